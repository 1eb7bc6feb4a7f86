import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The node registry, and the node each VM and storage image lives on. Rows written before
 * this migration get no node (null): the migration cannot know the name of the server that
 * will start on this database; the first node to start claims them (NodesService), which on
 * a single-host install is the one server that always ran them.
 */
export class Nodes1795700000009 implements MigrationInterface {
  name = 'Nodes1795700000009';

  public async up(queryRunner: QueryRunner): Promise<void> {
    const postgres = queryRunner.connection.driver.options.type === 'postgres';
    if (postgres) {
      await queryRunner.query(
        `CREATE TABLE "nodes" ("name" character varying(63) NOT NULL, "url" character varying(2048) NOT NULL, "driver" character varying(8) NOT NULL, "capabilities" text NOT NULL, "cpus" integer NOT NULL, "memory_mb" integer NOT NULL, "started_at" bigint NOT NULL, "heartbeat_at" bigint NOT NULL, CONSTRAINT "PK_b8645506b68b2c103372aacc0ff" PRIMARY KEY ("name"))`,
      );
    } else {
      await queryRunner.query(
        `CREATE TABLE "nodes" ("name" varchar(63) PRIMARY KEY NOT NULL, "url" varchar(2048) NOT NULL, "driver" varchar(8) NOT NULL, "capabilities" text NOT NULL, "cpus" integer NOT NULL, "memory_mb" integer NOT NULL, "started_at" bigint NOT NULL, "heartbeat_at" bigint NOT NULL)`,
      );
    }
    // No foreign key to nodes: a VM keeps naming its node after that node's row is removed, and is then shown offline.
    const column = postgres ? 'character varying(63)' : 'varchar(63)';
    await queryRunner.query(`ALTER TABLE "vms" ADD COLUMN "node" ${column}`);
    await queryRunner.query(`CREATE INDEX "IDX_30e5c1aeadc25876d1e79cab88" ON "vms" ("node") `);
    await queryRunner.query(`ALTER TABLE "storage" ADD COLUMN "node" ${column}`);
    await queryRunner.query(`CREATE INDEX "IDX_62eb7d3507b3ef4a4fde4e9891" ON "storage" ("node") `);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "IDX_62eb7d3507b3ef4a4fde4e9891"`);
    await queryRunner.query(`ALTER TABLE "storage" DROP COLUMN "node"`);
    await queryRunner.query(`DROP INDEX "IDX_30e5c1aeadc25876d1e79cab88"`);
    await queryRunner.query(`ALTER TABLE "vms" DROP COLUMN "node"`);
    await queryRunner.query(`DROP TABLE "nodes"`);
  }
}

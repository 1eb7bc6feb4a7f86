import { MigrationInterface, QueryRunner } from 'typeorm';
import { runStatements } from '../dialect';

/** Storage images and NICs. */
export class Resources1795700000002 implements MigrationInterface {
  name = 'Resources1795700000002';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await runStatements(queryRunner, {
      sqlite: [
        `CREATE TABLE "storage" ("stid" varchar(36) PRIMARY KEY NOT NULL, "name" varchar(128) NOT NULL, "gid" varchar(36) NOT NULL, "format" varchar(8) NOT NULL, "read_only" boolean NOT NULL, "size_bytes" integer NOT NULL, "created_at" datetime NOT NULL DEFAULT (datetime('now')), CONSTRAINT "FK_4200db3b8a70f522a9834be0480" FOREIGN KEY ("gid") REFERENCES "groups" ("gid") ON DELETE CASCADE ON UPDATE NO ACTION)`,
        `CREATE INDEX "IDX_4200db3b8a70f522a9834be048" ON "storage" ("gid") `,
        `CREATE TABLE "nics" ("nicid" varchar(36) PRIMARY KEY NOT NULL, "type" varchar(16) NOT NULL, "host_interface" varchar(64), "description" varchar(255) NOT NULL, "available" boolean NOT NULL DEFAULT (1), "gid" varchar(36), "created_at" datetime NOT NULL DEFAULT (datetime('now')), CONSTRAINT "FK_49b56a15d1f306fb894183210e7" FOREIGN KEY ("gid") REFERENCES "groups" ("gid") ON DELETE CASCADE ON UPDATE NO ACTION)`,
        `CREATE UNIQUE INDEX "IDX_51d1d4fb999d17e190f88527d3" ON "nics" ("host_interface") WHERE host_interface IS NOT NULL`,
        `CREATE INDEX "IDX_49b56a15d1f306fb894183210e" ON "nics" ("gid") `,
      ],
      postgres: [
        `CREATE TABLE "storage" ("stid" character varying(36) NOT NULL, "name" character varying(128) NOT NULL, "gid" character varying(36) NOT NULL, "format" character varying(8) NOT NULL, "read_only" boolean NOT NULL, "size_bytes" bigint NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_b222adf7253ffcf7bb2382f89a8" PRIMARY KEY ("stid"))`,
        `CREATE INDEX "IDX_4200db3b8a70f522a9834be048" ON "storage" ("gid")`,
        `ALTER TABLE "storage" ADD CONSTRAINT "FK_4200db3b8a70f522a9834be0480" FOREIGN KEY ("gid") REFERENCES "groups"("gid") ON DELETE CASCADE ON UPDATE NO ACTION`,
        `CREATE TABLE "nics" ("nicid" character varying(36) NOT NULL, "type" character varying(16) NOT NULL, "host_interface" character varying(64), "description" character varying(255) NOT NULL, "available" boolean NOT NULL DEFAULT true, "gid" character varying(36), "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_862dcff2c57a3efce1072bc4f69" PRIMARY KEY ("nicid"))`,
        `CREATE UNIQUE INDEX "IDX_51d1d4fb999d17e190f88527d3" ON "nics" ("host_interface") WHERE host_interface IS NOT NULL`,
        `CREATE INDEX "IDX_49b56a15d1f306fb894183210e" ON "nics" ("gid")`,
        `ALTER TABLE "nics" ADD CONSTRAINT "FK_49b56a15d1f306fb894183210e7" FOREIGN KEY ("gid") REFERENCES "groups"("gid") ON DELETE CASCADE ON UPDATE NO ACTION`,
      ],
    });
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "nics"`);
    await queryRunner.query(`DROP TABLE "storage"`);
  }
}

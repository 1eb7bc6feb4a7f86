import { MigrationInterface, QueryRunner } from 'typeorm';

/** Storage images and NICs. */
export class Resources1795700000002 implements MigrationInterface {
  name = 'Resources1795700000002';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "storage" ("stid" varchar(36) PRIMARY KEY NOT NULL, "name" varchar(128) NOT NULL, "gid" varchar(36) NOT NULL, "format" varchar(8) NOT NULL, "read_only" boolean NOT NULL, "size_bytes" integer NOT NULL, "created_at" datetime NOT NULL DEFAULT (datetime('now')), CONSTRAINT "FK_4200db3b8a70f522a9834be0480" FOREIGN KEY ("gid") REFERENCES "groups" ("gid") ON DELETE CASCADE ON UPDATE NO ACTION)`,
    );
    await queryRunner.query(`CREATE INDEX "IDX_4200db3b8a70f522a9834be048" ON "storage" ("gid") `);
    await queryRunner.query(
      `CREATE TABLE "nics" ("nicid" varchar(36) PRIMARY KEY NOT NULL, "type" varchar(16) NOT NULL, "host_interface" varchar(64), "description" varchar(255) NOT NULL, "available" boolean NOT NULL DEFAULT (1), "gid" varchar(36), "created_at" datetime NOT NULL DEFAULT (datetime('now')), CONSTRAINT "FK_49b56a15d1f306fb894183210e7" FOREIGN KEY ("gid") REFERENCES "groups" ("gid") ON DELETE CASCADE ON UPDATE NO ACTION)`,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX "IDX_51d1d4fb999d17e190f88527d3" ON "nics" ("host_interface") WHERE host_interface IS NOT NULL`);
    await queryRunner.query(`CREATE INDEX "IDX_49b56a15d1f306fb894183210e" ON "nics" ("gid") `);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "nics"`);
    await queryRunner.query(`DROP TABLE "storage"`);
  }
}

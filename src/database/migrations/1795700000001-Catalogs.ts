import { MigrationInterface, QueryRunner } from 'typeorm';
import { runStatements } from '../dialect';

/** Catalogs, owned by a group, and their shares with the seven permission flags. */
export class Catalogs1795700000001 implements MigrationInterface {
  name = 'Catalogs1795700000001';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await runStatements(queryRunner, {
      sqlite: [
        `CREATE TABLE "catalogs" ("cid" varchar(36) PRIMARY KEY NOT NULL, "label" varchar(128) NOT NULL, "gid" varchar(36) NOT NULL, "created_at" datetime NOT NULL DEFAULT (datetime('now')), CONSTRAINT "FK_def86129a6f008aa3abb4b09e0d" FOREIGN KEY ("gid") REFERENCES "groups" ("gid") ON DELETE CASCADE ON UPDATE NO ACTION)`,
        `CREATE INDEX "IDX_def86129a6f008aa3abb4b09e0" ON "catalogs" ("gid") `,
        `CREATE TABLE "catalog_shares" ("cid" varchar(36) NOT NULL, "gid" varchar(36) NOT NULL, "manage" boolean NOT NULL, "view" boolean NOT NULL, "create" boolean NOT NULL, "alter" boolean NOT NULL, "remove" boolean NOT NULL, "state" boolean NOT NULL, "interact" boolean NOT NULL, CONSTRAINT "FK_c339eec6eed7c501eb08ef36122" FOREIGN KEY ("cid") REFERENCES "catalogs" ("cid") ON DELETE CASCADE ON UPDATE NO ACTION, CONSTRAINT "FK_ce2ff555aec0149a3bd96da28d8" FOREIGN KEY ("gid") REFERENCES "groups" ("gid") ON DELETE CASCADE ON UPDATE NO ACTION, PRIMARY KEY ("cid", "gid"))`,
        `CREATE INDEX "IDX_2ea86f5ff2e00c3f265e3ab0c7" ON "catalog_shares" ("gid", "cid") `,
      ],
      postgres: [
        `CREATE TABLE "catalogs" ("cid" character varying(36) NOT NULL, "label" character varying(128) NOT NULL, "gid" character varying(36) NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_1fcb7655cc1e066ba7aa3af94e9" PRIMARY KEY ("cid"))`,
        `CREATE INDEX "IDX_def86129a6f008aa3abb4b09e0" ON "catalogs" ("gid")`,
        `ALTER TABLE "catalogs" ADD CONSTRAINT "FK_def86129a6f008aa3abb4b09e0d" FOREIGN KEY ("gid") REFERENCES "groups"("gid") ON DELETE CASCADE ON UPDATE NO ACTION`,
        `CREATE TABLE "catalog_shares" ("cid" character varying(36) NOT NULL, "gid" character varying(36) NOT NULL, "manage" boolean NOT NULL, "view" boolean NOT NULL, "create" boolean NOT NULL, "alter" boolean NOT NULL, "remove" boolean NOT NULL, "state" boolean NOT NULL, "interact" boolean NOT NULL, CONSTRAINT "PK_2ea86f5ff2e00c3f265e3ab0c71" PRIMARY KEY ("cid", "gid"))`,
        `CREATE INDEX "IDX_2ea86f5ff2e00c3f265e3ab0c7" ON "catalog_shares" ("gid", "cid")`,
        `ALTER TABLE "catalog_shares" ADD CONSTRAINT "FK_c339eec6eed7c501eb08ef36122" FOREIGN KEY ("cid") REFERENCES "catalogs"("cid") ON DELETE CASCADE ON UPDATE NO ACTION`,
        `ALTER TABLE "catalog_shares" ADD CONSTRAINT "FK_ce2ff555aec0149a3bd96da28d8" FOREIGN KEY ("gid") REFERENCES "groups"("gid") ON DELETE CASCADE ON UPDATE NO ACTION`,
      ],
    });
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "catalog_shares"`);
    await queryRunner.query(`DROP TABLE "catalogs"`);
  }
}

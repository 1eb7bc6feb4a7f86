import { MigrationInterface, QueryRunner } from 'typeorm';
import { runStatements } from '../dialect';

/** The audit log: one row per audited request, its targets apart so they can be searched by id. */
export class AuditLog1795700000007 implements MigrationInterface {
  name = 'AuditLog1795700000007';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await runStatements(queryRunner, {
      sqlite: [
        `CREATE TABLE "audit_log" ("id" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "at" integer NOT NULL, "uid" varchar(36), "username" varchar(64), "token_id" varchar(36), "address" varchar(64), "operation" varchar(64), "method" varchar(8) NOT NULL, "path" varchar(256) NOT NULL, "status" integer NOT NULL, "error_code" varchar(64), "request_id" varchar(128) NOT NULL)`,
        `CREATE INDEX "IDX_ba27cef5b8b2b1a756e06ebcc5" ON "audit_log" ("at") `,
        `CREATE INDEX "IDX_69a62e17b380620a8f6ca1571e" ON "audit_log" ("uid") `,
        `CREATE TABLE "audit_targets" ("target" varchar(36) NOT NULL, "record_id" integer NOT NULL, CONSTRAINT "FK_bf26e1a97e0f42ca0282dd7d745" FOREIGN KEY ("record_id") REFERENCES "audit_log" ("id") ON DELETE CASCADE ON UPDATE NO ACTION, PRIMARY KEY ("target", "record_id"))`,
        `CREATE INDEX "IDX_bf26e1a97e0f42ca0282dd7d74" ON "audit_targets" ("record_id") `,
      ],
      postgres: [
        `CREATE TABLE "audit_log" ("id" SERIAL NOT NULL, "at" bigint NOT NULL, "uid" character varying(36), "username" character varying(64), "token_id" character varying(36), "address" character varying(64), "operation" character varying(64), "method" character varying(8) NOT NULL, "path" character varying(256) NOT NULL, "status" integer NOT NULL, "error_code" character varying(64), "request_id" character varying(128) NOT NULL, CONSTRAINT "PK_07fefa57f7f5ab8fc3f52b3ed0b" PRIMARY KEY ("id"))`,
        `CREATE INDEX "IDX_ba27cef5b8b2b1a756e06ebcc5" ON "audit_log" ("at")`,
        `CREATE INDEX "IDX_69a62e17b380620a8f6ca1571e" ON "audit_log" ("uid")`,
        `CREATE TABLE "audit_targets" ("target" character varying(36) NOT NULL, "record_id" integer NOT NULL, CONSTRAINT "PK_b1ce5208d26d2454d37eb571513" PRIMARY KEY ("target", "record_id"))`,
        `CREATE INDEX "IDX_bf26e1a97e0f42ca0282dd7d74" ON "audit_targets" ("record_id")`,
        `ALTER TABLE "audit_targets" ADD CONSTRAINT "FK_bf26e1a97e0f42ca0282dd7d745" FOREIGN KEY ("record_id") REFERENCES "audit_log"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
      ],
    });
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "IDX_bf26e1a97e0f42ca0282dd7d74"`);
    await queryRunner.query(`DROP TABLE "audit_targets"`);
    await queryRunner.query(`DROP INDEX "IDX_69a62e17b380620a8f6ca1571e"`);
    await queryRunner.query(`DROP INDEX "IDX_ba27cef5b8b2b1a756e06ebcc5"`);
    await queryRunner.query(`DROP TABLE "audit_log"`);
  }
}

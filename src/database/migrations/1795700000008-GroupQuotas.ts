import { MigrationInterface, QueryRunner } from 'typeorm';
import { runStatements } from '../dialect';

/** Quotas per group (null: no limit); a group's row goes with the group. */
export class GroupQuotas1795700000008 implements MigrationInterface {
  name = 'GroupQuotas1795700000008';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await runStatements(queryRunner, {
      sqlite: [
        `CREATE TABLE "group_quotas" ("gid" varchar(36) PRIMARY KEY NOT NULL, "vms" integer, "vcpus" integer, "memory_mb" integer, "storage_bytes" integer, CONSTRAINT "FK_4a29f703434979f8d3a85ba4869" FOREIGN KEY ("gid") REFERENCES "groups" ("gid") ON DELETE CASCADE ON UPDATE NO ACTION)`,
      ],
      postgres: [
        `CREATE TABLE "group_quotas" ("gid" character varying(36) NOT NULL, "vms" integer, "vcpus" integer, "memory_mb" integer, "storage_bytes" bigint, CONSTRAINT "PK_4a29f703434979f8d3a85ba4869" PRIMARY KEY ("gid"))`,
        `ALTER TABLE "group_quotas" ADD CONSTRAINT "FK_4a29f703434979f8d3a85ba4869" FOREIGN KEY ("gid") REFERENCES "groups"("gid") ON DELETE CASCADE ON UPDATE NO ACTION`,
      ],
    });
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "group_quotas"`);
  }
}

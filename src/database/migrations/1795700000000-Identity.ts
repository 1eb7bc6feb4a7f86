import { MigrationInterface, QueryRunner } from 'typeorm';
import { runStatements } from '../dialect';

/** Users, groups, memberships and authkeys. */
export class Identity1795700000000 implements MigrationInterface {
  name = 'Identity1795700000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await runStatements(queryRunner, {
      sqlite: [
        `CREATE TABLE "users" ("uid" varchar(36) PRIMARY KEY NOT NULL, "username" varchar(64) NOT NULL, "password_hash" varchar(255) NOT NULL, "created_at" datetime NOT NULL DEFAULT (datetime('now')), CONSTRAINT "UQ_fe0bb3f6520ee0469504521e710" UNIQUE ("username"))`,
        `CREATE TABLE "groups" ("gid" varchar(36) PRIMARY KEY NOT NULL, "groupname" varchar(64) NOT NULL, "special" varchar(32), "personal_uid" varchar(36), "created_at" datetime NOT NULL DEFAULT (datetime('now')), CONSTRAINT "UQ_7da46d9af319f3d3fa3c09cff75" UNIQUE ("groupname"), CONSTRAINT "UQ_82a84612463bb01a1255bf5a626" UNIQUE ("special"), CONSTRAINT "REL_89feb9651e640800b6b468acb6" UNIQUE ("personal_uid"), CONSTRAINT "FK_89feb9651e640800b6b468acb6a" FOREIGN KEY ("personal_uid") REFERENCES "users" ("uid") ON DELETE CASCADE ON UPDATE NO ACTION)`,
        `CREATE TABLE "memberships" ("uid" varchar(36) NOT NULL, "gid" varchar(36) NOT NULL, CONSTRAINT "FK_b15f4863b44854b6e9123508982" FOREIGN KEY ("uid") REFERENCES "users" ("uid") ON DELETE CASCADE ON UPDATE CASCADE, CONSTRAINT "FK_6f22c5fccf4edb6aa993485f402" FOREIGN KEY ("gid") REFERENCES "groups" ("gid") ON DELETE CASCADE ON UPDATE NO ACTION, PRIMARY KEY ("uid", "gid"))`,
        `CREATE INDEX "IDX_b15f4863b44854b6e912350898" ON "memberships" ("uid") `,
        `CREATE INDEX "IDX_6f22c5fccf4edb6aa993485f40" ON "memberships" ("gid") `,
        `CREATE TABLE "authkeys" ("key_hash" varchar(64) PRIMARY KEY NOT NULL, "uid" varchar(36) NOT NULL, "expires_at" integer NOT NULL, CONSTRAINT "FK_34370090a9d8ac41e481ba9548b" FOREIGN KEY ("uid") REFERENCES "users" ("uid") ON DELETE CASCADE ON UPDATE NO ACTION)`,
        `CREATE INDEX "IDX_34370090a9d8ac41e481ba9548" ON "authkeys" ("uid") `,
        `CREATE INDEX "IDX_b1dec0c3b296aabaa8ec67561a" ON "authkeys" ("expires_at") `,
      ],
      postgres: [
        `CREATE TABLE "users" ("uid" character varying(36) NOT NULL, "username" character varying(64) NOT NULL, "password_hash" character varying(255) NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "UQ_fe0bb3f6520ee0469504521e710" UNIQUE ("username"), CONSTRAINT "PK_6e20ce1edf0678a09f1963f9587" PRIMARY KEY ("uid"))`,
        `CREATE TABLE "groups" ("gid" character varying(36) NOT NULL, "groupname" character varying(64) NOT NULL, "special" character varying(32), "personal_uid" character varying(36), "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "UQ_7da46d9af319f3d3fa3c09cff75" UNIQUE ("groupname"), CONSTRAINT "UQ_82a84612463bb01a1255bf5a626" UNIQUE ("special"), CONSTRAINT "REL_89feb9651e640800b6b468acb6" UNIQUE ("personal_uid"), CONSTRAINT "PK_07a1d6e456b1a2da992819ea859" PRIMARY KEY ("gid"))`,
        `ALTER TABLE "groups" ADD CONSTRAINT "FK_89feb9651e640800b6b468acb6a" FOREIGN KEY ("personal_uid") REFERENCES "users"("uid") ON DELETE CASCADE ON UPDATE NO ACTION`,
        `CREATE TABLE "memberships" ("uid" character varying(36) NOT NULL, "gid" character varying(36) NOT NULL, CONSTRAINT "PK_ad4092980b9bd64d613513b02ea" PRIMARY KEY ("uid", "gid"))`,
        `CREATE INDEX "IDX_b15f4863b44854b6e912350898" ON "memberships" ("uid")`,
        `CREATE INDEX "IDX_6f22c5fccf4edb6aa993485f40" ON "memberships" ("gid")`,
        `ALTER TABLE "memberships" ADD CONSTRAINT "FK_b15f4863b44854b6e9123508982" FOREIGN KEY ("uid") REFERENCES "users"("uid") ON DELETE CASCADE ON UPDATE CASCADE`,
        `ALTER TABLE "memberships" ADD CONSTRAINT "FK_6f22c5fccf4edb6aa993485f402" FOREIGN KEY ("gid") REFERENCES "groups"("gid") ON DELETE CASCADE ON UPDATE NO ACTION`,
        `CREATE TABLE "authkeys" ("key_hash" character varying(64) NOT NULL, "uid" character varying(36) NOT NULL, "expires_at" bigint NOT NULL, CONSTRAINT "PK_4f4adf6a0a3d3ce91756b53c3fd" PRIMARY KEY ("key_hash"))`,
        `CREATE INDEX "IDX_34370090a9d8ac41e481ba9548" ON "authkeys" ("uid")`,
        `CREATE INDEX "IDX_b1dec0c3b296aabaa8ec67561a" ON "authkeys" ("expires_at")`,
        `ALTER TABLE "authkeys" ADD CONSTRAINT "FK_34370090a9d8ac41e481ba9548b" FOREIGN KEY ("uid") REFERENCES "users"("uid") ON DELETE CASCADE ON UPDATE NO ACTION`,
      ],
    });
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "authkeys"`);
    await queryRunner.query(`DROP TABLE "memberships"`);
    await queryRunner.query(`DROP TABLE "groups"`);
    await queryRunner.query(`DROP TABLE "users"`);
  }
}

import { MigrationInterface, QueryRunner } from 'typeorm';
import { runStatements } from '../dialect';

/** API tokens: hashed secrets of users' long-lived credentials for programs, with their scope; they go with their user. */
export class ApiTokens1795700000006 implements MigrationInterface {
  name = 'ApiTokens1795700000006';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await runStatements(queryRunner, {
      sqlite: [
        `CREATE TABLE "api_tokens" ("id" varchar(36) PRIMARY KEY NOT NULL, "uid" varchar(36) NOT NULL, "name" varchar(64) NOT NULL, "secret_hash" varchar(64) NOT NULL, "catalogs" text, "read_only" boolean NOT NULL DEFAULT (0), "expires_at" integer, "created_at" datetime NOT NULL DEFAULT (datetime('now')), CONSTRAINT "UQ_7e7249acb8127967fc6b8907d60" UNIQUE ("secret_hash"), CONSTRAINT "UQ_api_tokens_uid_name" UNIQUE ("uid", "name"), CONSTRAINT "FK_080810916d39fc10f586c1f80d4" FOREIGN KEY ("uid") REFERENCES "users" ("uid") ON DELETE CASCADE ON UPDATE NO ACTION)`,
      ],
      postgres: [
        `CREATE TABLE "api_tokens" ("id" character varying(36) NOT NULL, "uid" character varying(36) NOT NULL, "name" character varying(64) NOT NULL, "secret_hash" character varying(64) NOT NULL, "catalogs" text, "read_only" boolean NOT NULL DEFAULT false, "expires_at" bigint, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "UQ_7e7249acb8127967fc6b8907d60" UNIQUE ("secret_hash"), CONSTRAINT "UQ_api_tokens_uid_name" UNIQUE ("uid", "name"), CONSTRAINT "PK_c587455266b5fa8dace7194caac" PRIMARY KEY ("id"))`,
        `ALTER TABLE "api_tokens" ADD CONSTRAINT "FK_080810916d39fc10f586c1f80d4" FOREIGN KEY ("uid") REFERENCES "users"("uid") ON DELETE CASCADE ON UPDATE NO ACTION`,
      ],
    });
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "api_tokens"`);
  }
}

import { MigrationInterface, QueryRunner } from 'typeorm';

/** The secrets a cluster's nodes share (the node-to-node credential); the same SQL on SQLite and PostgreSQL. */
export class ClusterCredentials1795700000010 implements MigrationInterface {
  name = 'ClusterCredentials1795700000010';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "cluster_credentials" ("name" varchar(32) PRIMARY KEY NOT NULL, "secret" varchar(128) NOT NULL)`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "cluster_credentials"`);
  }
}

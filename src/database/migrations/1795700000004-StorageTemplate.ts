import { MigrationInterface, QueryRunner } from 'typeorm';
import { runStatements } from '../dialect';

/** Storage images may be templates (golden images attached read-only). */
export class StorageTemplate1795700000004 implements MigrationInterface {
  name = 'StorageTemplate1795700000004';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await runStatements(queryRunner, {
      sqlite: [
        `ALTER TABLE "storage" ADD COLUMN "template" boolean NOT NULL DEFAULT (0)`,
      ],
      postgres: [
        `ALTER TABLE "storage" ADD "template" boolean NOT NULL DEFAULT false`,
      ],
    });
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "storage" DROP COLUMN "template"`);
  }
}

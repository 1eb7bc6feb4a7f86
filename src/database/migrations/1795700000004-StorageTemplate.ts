import { MigrationInterface, QueryRunner } from 'typeorm';

/** Storage images may be templates (golden images attached read-only). */
export class StorageTemplate1795700000004 implements MigrationInterface {
  name = 'StorageTemplate1795700000004';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "storage" ADD COLUMN "template" boolean NOT NULL DEFAULT (0)`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "storage" DROP COLUMN "template"`);
  }
}

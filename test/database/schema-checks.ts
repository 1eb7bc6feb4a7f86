import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DataSource } from 'typeorm';
import { DatabaseLocation, dataSourceOptions, VelocityDataSource } from '../../src/database/data-source-options';

/** An empty database of one dialect for one check. */
export interface EmptyDatabase {
  location: DatabaseLocation;
  /** The tables it holds, but the migrations' own. */
  tables(dataSource: DataSource): Promise<string[]>;
  dispose(): Promise<void> | void;
}

/**
 * The schema checks every dialect passes: the migrations build exactly what the entities
 * describe, and undo it all. `settings` checks what else the dialect's connection promises.
 */
export function describeSchemaChecks(dialect: string, emptyDatabase: () => Promise<EmptyDatabase>, settings?: (dataSource: DataSource) => Promise<void>): void {
  async function withMigrated(check: (dataSource: DataSource, database: EmptyDatabase, applied: number) => Promise<void>): Promise<void> {
    const database = await emptyDatabase();
    const dataSource = new VelocityDataSource(dataSourceOptions(database.location));
    try {
      await dataSource.initialize();
      const applied = await dataSource.runMigrations();
      assert.ok(applied.length > 0, 'migrations ran');
      await check(dataSource, database, applied.length);
    } finally {
      await dataSource.destroy();
      await database.dispose();
    }
  }

  describe(`database schema (${dialect})`, () => {
    it('a fresh database built by the migrations alone matches the entities exactly', () =>
      withMigrated(async (dataSource) => {
        // What `typeorm schema:log` prints: the SQL synchronize would run. Any statement means
        // entities and migrations drifted apart.
        const pending = await dataSource.driver.createSchemaBuilder().log();
        assert.deepEqual(pending.upQueries.map((q) => q.query), []);
        await settings?.(dataSource);
      }));

    it('every migration can be reverted, leaving an empty schema', () =>
      withMigrated(async (dataSource, database, applied) => {
        for (let i = 0; i < applied; i++) await dataSource.undoLastMigration();
        assert.deepEqual(await database.tables(dataSource), []);
      }));
  });
}

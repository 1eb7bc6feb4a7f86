import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../../src/database/data-source-options';

describe('database schema', () => {
  it('a fresh database built by the migrations alone matches the entities exactly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'velocity-migrations-'));
    const dataSource = new DataSource(dataSourceOptions(join(dir, 'velocity.sqlite')));
    try {
      await dataSource.initialize();
      const applied = await dataSource.runMigrations();
      assert.ok(applied.length > 0, 'migrations ran');
      // What `typeorm schema:log` prints: the SQL synchronize would run. Any statement means
      // entities and migrations drifted apart.
      const pending = await dataSource.driver.createSchemaBuilder().log();
      assert.deepEqual(pending.upQueries.map((q) => q.query), []);

      const pragmas = await dataSource.query('PRAGMA journal_mode');
      assert.equal(pragmas[0].journal_mode, 'wal');
      const fk = await dataSource.query('PRAGMA foreign_keys');
      assert.equal(fk[0].foreign_keys, 1);
    } finally {
      await dataSource.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('every migration can be reverted, leaving an empty schema', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'velocity-migrations-'));
    const dataSource = new DataSource(dataSourceOptions(join(dir, 'velocity.sqlite')));
    try {
      await dataSource.initialize();
      const applied = await dataSource.runMigrations();
      for (let i = 0; i < applied.length; i++) await dataSource.undoLastMigration();
      const tables = await dataSource.query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('migrations') AND name NOT LIKE 'sqlite_%'",
      );
      assert.deepEqual(tables, []);
    } finally {
      await dataSource.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

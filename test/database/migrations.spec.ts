import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeSchemaChecks } from './schema-checks';

describeSchemaChecks(
  'SQLite',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'velocity-migrations-'));
    return {
      location: { databasePath: join(dir, 'velocity.sqlite'), databaseUrl: undefined },
      tables: async (dataSource) => {
        const rows: Array<{ name: string }> = await dataSource.query(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('migrations') AND name NOT LIKE 'sqlite_%'",
        );
        return rows.map((row) => row.name);
      },
      dispose: () => rmSync(dir, { recursive: true, force: true }),
    };
  },
  async (dataSource) => {
    const pragmas = await dataSource.query('PRAGMA journal_mode');
    assert.equal(pragmas[0].journal_mode, 'wal');
    const fk = await dataSource.query('PRAGMA foreign_keys');
    assert.equal(fk[0].foreign_keys, 1);
  },
);

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dataSourceOptions, VelocityDataSource } from '../../src/database/data-source-options';
import { migrate } from '../../src/database/migrate';
import { freshPostgresDatabase } from '../support/postgres';
import { describeSchemaChecks } from './schema-checks';

describeSchemaChecks('PostgreSQL', async () => {
  const database = await freshPostgresDatabase();
  return {
    location: { databasePath: '', databaseUrl: database.url },
    tables: async (dataSource) => {
      const rows: Array<{ name: string }> = await dataSource.query(
        "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'migrations'",
      );
      return rows.map((row) => row.name);
    },
    dispose: () => database.drop(),
  };
});

describe('migrating a shared PostgreSQL database', () => {
  it('servers starting together on one empty database migrate it once, and all come up', async () => {
    const database = await freshPostgresDatabase();
    const servers = [1, 2, 3].map(() => new VelocityDataSource(dataSourceOptions({ databasePath: '', databaseUrl: database.url })));
    try {
      await Promise.all(servers.map(async (dataSource) => migrate(await dataSource.initialize())));
      const rows: Array<{ name: string }> = await servers[0].query('SELECT name FROM migrations ORDER BY id');
      assert.equal(rows.length, servers[0].migrations.length);
      assert.equal(new Set(rows.map((row) => row.name)).size, rows.length, 'each migration ran once');
    } finally {
      await Promise.all(servers.map((dataSource) => dataSource.isInitialized && dataSource.destroy()));
      await database.drop();
    }
  });
});

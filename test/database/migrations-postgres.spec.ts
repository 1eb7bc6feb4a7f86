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

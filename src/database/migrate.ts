import type { DataSource } from 'typeorm';
import { isPostgres } from './dialect';

/** The advisory lock under which one server at a time migrates a shared PostgreSQL database (any constant). */
const MIGRATION_LOCK = 1_795_700_000;

/**
 * Brings the schema up to date. Servers sharing one PostgreSQL database may start together:
 * the first to take the lock migrates, the others wait for it and then find nothing to do
 * (two migrating at once would both create the same tables, and one would fail).
 */
export async function migrate(dataSource: DataSource): Promise<void> {
  if (!isPostgres(dataSource)) {
    await dataSource.runMigrations();
    return;
  }
  // A session lock: held by this connection until unlocked, or until the connection closes.
  const lock = dataSource.createQueryRunner();
  try {
    await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await dataSource.runMigrations();
    } finally {
      await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  } finally {
    await lock.release();
  }
}

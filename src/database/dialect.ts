import type { DataSource, EntityManager, QueryRunner } from 'typeorm';

/**
 * True when `connection` is the cluster's PostgreSQL database, false for the embedded SQLite
 * file. Only the few places whose SQL differs ask (migrations, raw queries).
 */
export function isPostgres(connection: DataSource): boolean {
  return connection.options.type === 'postgres';
}

/**
 * Raw SQL written with `?` placeholders, as `connection`'s driver takes it: unchanged for
 * SQLite, numbered `$1, $2, …` for PostgreSQL. The SQL must hold no literal `?`.
 */
export function withPlaceholders(connection: DataSource, sql: string): string {
  if (!isPostgres(connection)) return sql;
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/** A migration's statements: the same on both dialects, or each its own. */
export type MigrationStatements = string[] | { sqlite: string[]; postgres: string[] };

/** Runs a migration's statements for the dialect of `queryRunner`, in order. */
export async function runStatements(queryRunner: QueryRunner, statements: MigrationStatements): Promise<void> {
  const list = Array.isArray(statements) ? statements : isPostgres(queryRunner.connection) ? statements.postgres : statements.sqlite;
  for (const statement of list) await queryRunner.query(statement);
}

/**
 * Runs independent reads through `manager` together, as the driver queues them (SQLite's one
 * connection, PostgreSQL's pool), except inside a PostgreSQL transaction: its one client takes
 * a query only once the last has answered (pg 9 refuses queued ones), so they go in turn.
 */
export async function readTogether<T extends readonly unknown[]>(manager: EntityManager, reads: { [K in keyof T]: () => Promise<T[K]> }): Promise<T> {
  if (!isPostgres(manager.connection) || !manager.queryRunner?.isTransactionActive) return Promise.all(reads.map((read) => read())) as Promise<unknown> as Promise<T>;
  const results: unknown[] = [];
  for (const read of reads) results.push(await read());
  return results as unknown as T;
}

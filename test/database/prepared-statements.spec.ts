import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Logger } from 'typeorm';
import { AuditRecordEntity } from '../../src/audit/audit-record.entity';
import { dataSourceOptions, VelocityDataSource } from '../../src/database/data-source-options';
import { PreparedStatementDatabase } from '../../src/database/prepared-statements';
import { ScratchDir } from '../support/scratch-dir';

/** `method(sql, parameters)` as TypeORM calls it: the rows (all) or `lastID` and `changes` (run). */
function call(db: PreparedStatementDatabase, method: 'all' | 'run', sql: string, parameters: unknown[] = []): Promise<{ rows?: unknown[]; lastID?: number; changes?: number }> {
  return new Promise((resolve, reject) => {
    db[method](sql, parameters, function (this: { lastID?: number; changes?: number }, error: Error | null, rows?: unknown[]) {
      if (error) return reject(error);
      resolve({ rows, lastID: this.lastID, changes: this.changes });
    });
  });
}

function open(path: string): Promise<PreparedStatementDatabase> {
  return new Promise((resolve, reject) => {
    const db: PreparedStatementDatabase = new PreparedStatementDatabase(path, (error: Error | null) => (error ? reject(error) : resolve(db)));
  });
}

function close(db: PreparedStatementDatabase): Promise<void> {
  return new Promise((resolve, reject) => db.close((error) => (error ? reject(error) : resolve())));
}

describe('PreparedStatementDatabase (a real SQLite file)', () => {
  const dir = new ScratchDir();
  const path = dir.file('prepared.sqlite');
  let db: PreparedStatementDatabase;

  before(async () => {
    db = await open(path);
    await call(db, 'run', 'CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)');
  });
  after(() => dir.cleanup());

  it('answers a statement run again from its kept form exactly as sqlite3 does: rows, lastID, changes, fresh parameters', async () => {
    const insert = 'INSERT INTO items (name) VALUES (?)';
    const first = await call(db, 'run', insert, ['a']);
    const second = await call(db, 'run', insert, ['b']);
    const third = await call(db, 'run', insert, ['c']);
    assert.deepEqual([first, second, third].map((r) => [r.lastID, r.changes]), [[1, 1], [2, 1], [3, 1]]);
    const select = 'SELECT name FROM items WHERE id >= ? ORDER BY id';
    assert.deepEqual((await call(db, 'all', select, [1])).rows, [{ name: 'a' }, { name: 'b' }, { name: 'c' }]);
    assert.deepEqual((await call(db, 'all', select, [3])).rows, [{ name: 'c' }], 'no parameter of the previous run is left bound');
    const update = await call(db, 'run', 'UPDATE items SET name = name || ? WHERE id <= ?', ['!', 2]);
    assert.equal(update.changes, 2);
    assert.equal((await call(db, 'run', 'UPDATE items SET name = name || ? WHERE id <= ?', ['?', 1])).changes, 1);
  });

  it('runs concurrent calls of one statement each with its own parameters and result', async () => {
    const select = 'SELECT name FROM items WHERE id = ?';
    const results = await Promise.all([1, 2, 3, 1, 2, 3].map((id) => call(db, 'all', select, [id])));
    assert.deepEqual(results.map((r) => r.rows), [[{ name: 'a!?' }], [{ name: 'b!' }], [{ name: 'c' }], [{ name: 'a!?' }], [{ name: 'b!' }], [{ name: 'c' }]]);
  });

  it('passes a failure through and keeps working: a UNIQUE violation, then the same statement succeeds', async () => {
    const insert = 'INSERT INTO items (name) VALUES (?)';
    await assert.rejects(call(db, 'run', insert, ['c']), /UNIQUE constraint failed/);
    assert.equal((await call(db, 'run', insert, ['d'])).changes, 1);
    await assert.rejects(call(db, 'all', 'SELECT missing_column FROM items'), /no such column/);
  });

  it('keeps transactions whole with kept BEGIN, ROLLBACK and COMMIT', async () => {
    for (const end of ['ROLLBACK', 'COMMIT', 'ROLLBACK', 'COMMIT']) {
      await call(db, 'all', 'BEGIN TRANSACTION');
      await call(db, 'run', 'INSERT INTO items (name) VALUES (?)', [`tx-${end}-${Math.random()}`]);
      await call(db, 'all', end);
    }
    const rows = (await call(db, 'all', "SELECT name FROM items WHERE name LIKE 'tx-%'")).rows as Array<{ name: string }>;
    assert.deepEqual(rows.map((r) => r.name.split('-')[1]), ['COMMIT', 'COMMIT']);
  });

  it('keeps a statement that comes again, not one run once', async () => {
    await call(db, 'all', 'SELECT 1 AS once FROM items');
    const kept = (db as unknown as { kept: Map<string, unknown> }).kept;
    assert.ok(!kept.has('SELECT 1 AS once FROM items'));
    await call(db, 'all', 'SELECT 1 AS once FROM items');
    assert.ok(kept.has('SELECT 1 AS once FROM items'));
  });

  it('keeps at most 256 statements, finalizing the least recently used', async () => {
    // A statement is kept when it comes a second time.
    for (let i = 0; i < 300; i++) for (const _ of [1, 2]) await call(db, 'all', `SELECT ${i} AS n FROM items WHERE id = ?`, [1]);
    const kept = (db as unknown as { kept: Map<string, unknown> }).kept;
    assert.equal(kept.size, 256);
    assert.ok(!kept.has('SELECT 0 AS n FROM items WHERE id = ?') && kept.has('SELECT 299 AS n FROM items WHERE id = ?'));
  });

  it('closes with its statements kept (sqlite3 refuses to close with any left), and the file opens again', async () => {
    await close(db);
    const again = await open(path);
    assert.ok(((await call(again, 'all', 'SELECT COUNT(*) AS n FROM items')).rows as Array<{ n: number }>)[0].n >= 4);
    await close(again);
  });
});

describe('numbers through TypeORM on SQLite', () => {
  it('are bound, not written into the SQL text: one text for every value, which a kept statement then serves, with the values exact', async () => {
    const dir = new ScratchDir();
    const sent: Array<{ query: string; parameters: unknown[] }> = [];
    const quiet = () => undefined;
    const logger: Logger = {
      logQuery: (query, parameters) => void sent.push({ query, parameters: parameters ?? [] }),
      logQueryError: quiet,
      logQuerySlow: quiet,
      logSchemaBuild: quiet,
      logMigration: quiet,
      log: quiet,
    };
    const dataSource = new VelocityDataSource(dataSourceOptions({ databasePath: dir.file('numbers.sqlite'), databaseUrl: undefined }, logger, ['query']));
    try {
      await dataSource.initialize();
      await dataSource.runMigrations();
      const record = (at: number, status: number) => ({ at, uid: null, username: null, tokenId: null, address: null, operation: null, method: 'GET', path: '/', status, errorCode: null, requestId: `r-${at}` });
      sent.length = 0;
      const times = [1796231805011, 1796231805246, 2 ** 53 - 1];
      for (const [i, at] of times.entries()) await dataSource.manager.insert(AuditRecordEntity, record(at, 200 + i));
      const inserts = sent.filter((s) => s.query.startsWith('INSERT INTO "audit_log"'));
      assert.equal(new Set(inserts.map((s) => s.query)).size, 1, inserts.map((s) => s.query).join('\n'));
      assert.ok(inserts.every((s, i) => s.parameters.includes(times[i]) && !s.query.includes(String(times[i]))));
      const rows = await dataSource.manager.find(AuditRecordEntity, { order: { at: 'ASC' } });
      assert.deepEqual(rows.map((r) => [r.at, r.status]), [[times[0], 200], [times[1], 201], [times[2], 202]]);
      // Compared as numbers, as written ones would be: a bound integer is an integer to SQLite.
      const before = await dataSource.manager.createQueryBuilder(AuditRecordEntity, 'a').where('a.at < :cutoff', { cutoff: 1796231805246 }).getCount();
      assert.equal(before, 1);
    } finally {
      if (dataSource.isInitialized) await dataSource.destroy();
      dir.cleanup();
    }
  });
});

import * as sqlite3 from 'sqlite3';
import type { Driver } from 'typeorm';

/** Statements kept prepared; beyond this many, the least recently used is finalized. */
const KEPT_STATEMENTS = 256;

/**
 * What is kept prepared: the statements of requests and transactions. Schema changes and
 * pragmas (migrations, start-up settings) run once and go the usual way.
 */
const KEEPABLE = /^\s*(SELECT|INSERT|UPDATE|DELETE|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b/i;

type Callback = (this: sqlite3.Statement, error: Error | null, rows?: unknown[]) => void;

/**
 * sqlite3's Database with the statements TypeORM sends kept prepared, by their SQL text.
 * Through `all` and `run`, sqlite3 prepares a new statement each time, runs it and finalizes
 * it: two trips through the thread pool, each ending with a turn of the event loop. A kept
 * statement takes one. Under load a turn lasts long (other requests' work runs in it), and the
 * transactions, which run one at a time, wait those turns statement after statement: the
 * transaction a VM creation or a batch of state changes holds takes about half as long.
 *
 * The results are sqlite3's own: a kept statement calls back as `all` and `run` do (`this`
 * carrying `lastID` and `changes`). A statement that fails is dropped and prepared afresh when
 * next used. The statements are finalized before the database closes, which it refuses with
 * any left.
 */
export class PreparedStatementDatabase extends sqlite3.Database {
  /** By SQL text, least recently used first. */
  private readonly kept = new Map<string, sqlite3.Statement>();
  /** SQL texts run once and not kept (yet): a statement is kept when it comes again. */
  private readonly seen = new Set<string>();

  override all(sql: string, ...args: unknown[]): this {
    return this.through('all', sql, args);
  }

  override run(sql: string, ...args: unknown[]): this {
    return this.through('run', sql, args);
  }

  override close(callback?: (error: Error | null) => void): void {
    const statements = [...this.kept.values()];
    this.kept.clear();
    void Promise.all(statements.map((statement) => new Promise<void>((resolve) => statement.finalize(() => resolve())))).then(() => super.close(callback));
  }

  /** `method(sql, [parameters,] callback)` on a kept statement, or as sqlite3 does it (keeping the statement for next time). */
  private through(method: 'all' | 'run', sql: string, args: unknown[]): this {
    const callback = args[args.length - 1];
    if (typeof callback !== 'function' || !KEEPABLE.test(sql)) return super[method](sql, ...args);
    const parameters = args.length > 1 ? args[0] : [];
    const statement = this.kept.get(sql);
    if (!statement) {
      const keep = () => this.keep(sql);
      return super[method](sql, parameters, function (this: sqlite3.Statement, error: Error | null, rows?: unknown[]) {
        if (!error) keep();
        (callback as Callback).call(this, error, rows);
      });
    }
    // Most recently used: last in the map.
    this.kept.delete(sql);
    this.kept.set(sql, statement);
    const drop = () => this.drop(sql, statement);
    statement[method](parameters, function (this: sqlite3.Statement, error: Error | null, rows?: unknown[]) {
      if (error) drop();
      (callback as Callback).call(this, error, rows);
    });
    return this;
  }

  private keep(sql: string): void {
    if (this.kept.has(sql)) return;
    if (!this.seen.has(sql)) {
      // Once only, most likely: an IN list of one length, a migration. Keeping it would cost a
      // preparation, and its eviction a finalization, which waits for the connection.
      if (this.seen.size >= KEPT_STATEMENTS) this.seen.clear();
      this.seen.add(sql);
      return;
    }
    this.seen.delete(sql);
    const statement: sqlite3.Statement = this.prepare(sql, (error: Error | null) => {
      if (error) this.drop(sql, statement);
    });
    this.kept.set(sql, statement);
    if (this.kept.size > KEPT_STATEMENTS) {
      const [oldest, unused] = this.kept.entries().next().value as [string, sqlite3.Statement];
      this.drop(oldest, unused);
    }
  }

  private drop(sql: string, statement: sqlite3.Statement): void {
    if (this.kept.get(sql) === statement) this.kept.delete(sql);
    statement.finalize();
  }
}

/** A number parameter on its way through TypeORM's SQLite driver, which would write it into the SQL text. */
class BoundNumber {
  constructor(readonly value: number) {}
}

/**
 * TypeORM's SQLite driver writes number parameters into the SQL text (`at < 1796231805011`)
 * instead of binding them: every audit record, every VM with its own vCPU count made a text
 * of its own, which no kept statement matched. Here they are bound like the other values
 * (as TypeORM already binds the numbers of an `IN` list); SQLite stores and compares a bound
 * integer as it does a written one.
 */
export function bindNumberParameters(driver: Driver): void {
  const escape = driver.escapeQueryWithParameters.bind(driver);
  driver.escapeQueryWithParameters = (sql, parameters, nativeParameters) => {
    const boxed = Object.fromEntries(Object.entries(parameters).map(([key, value]) => [key, typeof value === 'number' ? new BoundNumber(value) : value]));
    const [query, values] = escape(sql, boxed, nativeParameters);
    return [query, values.map((value) => (value instanceof BoundNumber ? value.value : value))];
  };
}

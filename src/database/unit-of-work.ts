import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { RequestAudit } from '../audit/request-audit';
import { isPostgres } from './dialect';

/**
 * Runs database transactions one at a time. TypeORM's sqlite driver shares one
 * connection and one query runner, so two concurrent `dataSource.transaction()` calls
 * would nest into each other as savepoints; queuing them keeps each transaction whole
 * and makes check-then-insert sequences (unique names) race-free. On PostgreSQL each
 * transaction has a pooled connection of its own, and reads outside one see only committed
 * rows, but the queue stays: the same check-then-insert sequences rely on it within a
 * process (between processes sharing one database it is not enough).
 *
 * A transaction run for a request that changes something also writes that request's audit
 * record (see RequestAudit), after the work and before the commit: the change and its
 * record commit together or not at all.
 */
@Injectable()
export class UnitOfWork {
  private tail: Promise<unknown> = Promise.resolve();
  /** What to do once each running transaction has committed or rolled back. */
  private readonly settleActions = new WeakMap<EntityManager, Array<() => void>>();

  constructor(private readonly dataSource: DataSource) {}

  /**
   * Runs `work` in a transaction of its own, once those before it have ended. It carries the
   * audit record of the request that called, and of the requests in `alsoCarrying` (whose
   * changes the work writes too: a batch; read once the work is done).
   */
  run<T>(work: (manager: EntityManager) => Promise<T>, alsoCarrying: readonly RequestAudit[] = []): Promise<T> {
    const own = RequestAudit.active();
    const actions: Array<() => void> = [];
    let audits: RequestAudit[] = [];
    let committed = false;
    const result = this.tail
      .then(async () => {
        const value = await this.dataSource.transaction(async (manager) => {
          this.settleActions.set(manager, actions);
          const done = await work(manager);
          audits = [...new Set([own, ...alsoCarrying])].filter((audit) => audit !== undefined);
          await RequestAudit.writeAllWithin(manager, audits);
          return done;
        });
        committed = true;
        return value;
      })
      .finally(() => {
        for (const audit of audits) audit.transactionEnded(committed);
        actions.forEach((action) => action());
      });
    this.tail = result.catch(() => undefined);
    return result;
  }

  /**
   * Runs `action` once the transaction of `manager` has committed or rolled back, before
   * `run` resolves; at once for a manager outside a transaction, whose writes are committed
   * as they return. For in-memory copies of rows: dropping them only after the outcome is
   * known means no read that saw the write uncommitted (the connection is shared) is kept.
   */
  afterSettled(manager: EntityManager, action: () => void): void {
    const actions = this.settleActions.get(manager);
    if (actions) actions.push(action);
    else action();
  }
}

/** True for the refusal to delete a row that another row still references (SQLite's message, PostgreSQL's SQLSTATE). */
export function isForeignKeyViolation(error: unknown): boolean {
  return error instanceof Error && (/FOREIGN KEY constraint failed/.test(error.message) || sqlState(error) === '23503');
}

/** True for the refusal of a row that repeats a unique key (SQLite's message, PostgreSQL's SQLSTATE). */
export function isUniqueViolation(error: unknown): boolean {
  return error instanceof Error && (/UNIQUE constraint failed/.test(error.message) || sqlState(error) === '23505');
}

/** PostgreSQL's error code, which TypeORM's QueryFailedError copies from the driver's error. */
function sqlState(error: Error): unknown {
  return (error as { code?: unknown }).code;
}

/**
 * Runs a statement of a transaction whose failure the caller answers with more queries in
 * that transaction. PostgreSQL aborts the whole transaction at an error, so there a savepoint
 * undoes just the statement; SQLite undoes only the failed statement anyway, and outside a
 * transaction there is nothing to keep, so there it runs as is.
 */
export async function withSavepoint<T>(manager: EntityManager, statement: () => Promise<T>): Promise<T> {
  if (!isPostgres(manager.connection) || !manager.queryRunner?.isTransactionActive) return statement();
  await manager.query('SAVEPOINT statement');
  try {
    const result = await statement();
    await manager.query('RELEASE SAVEPOINT statement');
    return result;
  } catch (error) {
    await manager.query('ROLLBACK TO SAVEPOINT statement');
    throw error;
  }
}

import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { RequestAudit } from '../audit/request-audit';

/**
 * Runs database transactions one at a time. TypeORM's sqlite driver shares one
 * connection and one query runner, so two concurrent `dataSource.transaction()` calls
 * would nest into each other as savepoints; queuing them keeps each transaction whole
 * and makes check-then-insert sequences (unique names) race-free.
 *
 * A transaction run for a request that changes something also writes that request's audit
 * record (see RequestAudit), after the work and before the commit: the change and its
 * record commit together or not at all.
 */
@Injectable()
export class UnitOfWork {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly dataSource: DataSource) {}

  run<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    const audit = RequestAudit.active();
    const result = this.tail.then(() => (audit ? this.audited(audit, work) : this.dataSource.transaction(work)));
    this.tail = result.catch(() => undefined);
    return result;
  }

  private async audited<T>(audit: RequestAudit, work: (manager: EntityManager) => Promise<T>): Promise<T> {
    let committed = false;
    try {
      const result = await this.dataSource.transaction(async (manager) => {
        const value = await work(manager);
        await audit.writeWithin(manager);
        return value;
      });
      committed = true;
      return result;
    } finally {
      audit.transactionEnded(committed);
    }
  }
}

/** True for SQLite's refusal to delete a row that another row still references. */
export function isForeignKeyViolation(error: unknown): boolean {
  return error instanceof Error && /FOREIGN KEY constraint failed/.test(error.message);
}

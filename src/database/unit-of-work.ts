import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

/**
 * Runs database transactions one at a time. TypeORM's sqlite driver shares one
 * connection and one query runner, so two concurrent `dataSource.transaction()` calls
 * would nest into each other as savepoints; queuing them keeps each transaction whole
 * and makes check-then-insert sequences (unique names) race-free.
 */
@Injectable()
export class UnitOfWork {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly dataSource: DataSource) {}

  run<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    const result = this.tail.then(() => this.dataSource.transaction(work));
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/** True for SQLite's refusal to delete a row that another row still references. */
export function isForeignKeyViolation(error: unknown): boolean {
  return error instanceof Error && /FOREIGN KEY constraint failed/.test(error.message);
}

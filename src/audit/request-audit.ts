import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import { AuditEntry, AuditOutcome, insertAuditEntries, RecordedOutcome } from './audit-entry';

/** Where a request's record goes when no transaction of the request carried it. */
export interface AuditSink {
  /** Writes `entry` soon, outside any request's transaction. */
  enqueue(entry: AuditEntry): void;
  /** Corrects record `id`, written in a transaction with the predicted outcome, to what the answer was. */
  enqueueCorrection(id: number, outcome: RecordedOutcome | null, addedTargets: string[]): void;
}

/**
 * The audit record of one request that changes something, from its arrival to its answer.
 * The first transaction the request commits through UnitOfWork carries the record (with the
 * route's success status, predicted), so that a change is never committed without it. When
 * the answer is final the record is settled: written now if no transaction carried it (a
 * refusal, a failure, a change without a transaction), or corrected if the answer differs
 * from the prediction (another status, an error after the commit, ids the reply created).
 * One record per request whatever the number of transactions.
 */
export class RequestAudit {
  private static readonly current = new AsyncLocalStorage<RequestAudit>();
  /** Requests begun and not yet settled; the storage is switched off when there are none. */
  private static open = 0;

  private phase: 'open' | 'in-transaction' | 'written' | 'settled' = 'open';
  private written: { id: number; entry: AuditEntry } | undefined;
  private outcome: AuditOutcome | undefined;
  /** Ids of what the request creates, known before its answer names them (see newId). */
  private readonly created: string[] = [];

  /**
   * @param describe the record as it stands: with the predicted outcome before the answer,
   *   with `outcome` after, and with the ids of what the request created so far; read late
   *   so that it sees who the guard authenticated.
   */
  constructor(
    private readonly describe: (outcome: AuditOutcome | undefined, created: readonly string[]) => AuditEntry,
    private readonly sink: AuditSink,
  ) {}

  /**
   * A new id for something the running request creates (a VM, a catalog …). The request's
   * record names it from the first transaction on, so the answer that names it too needs no
   * correction written after the commit (one more transaction per creation).
   */
  static newId(): string {
    const id = randomUUID();
    RequestAudit.current.getStore()?.created.push(id);
    return id;
  }

  /** The audit of the request whose work is running, if it changes something. */
  static active(): RequestAudit | undefined {
    return RequestAudit.current.getStore();
  }

  /**
   * Runs `next` (the rest of the request) with `audit` active. Only requests that may change
   * something enter it: while none is open the storage is disabled, so that Node tracks no
   * context at all and reading requests pay nothing for it.
   */
  static enter(audit: RequestAudit, next: () => void): void {
    RequestAudit.open++;
    RequestAudit.current.run(audit, next);
  }

  /**
   * Called by UnitOfWork at the end of a transaction's work, inside the transaction: writes
   * the records of those of `audits` that no transaction carried yet, together.
   */
  static async writeAllWithin(manager: EntityManager, audits: readonly RequestAudit[]): Promise<void> {
    const due = audits.filter((audit) => audit.phase === 'open' && !audit.outcome);
    const entries = due.map((audit) => {
      audit.phase = 'in-transaction';
      return audit.describe(undefined, audit.created);
    });
    if (entries.length === 0) return;
    const ids = await insertAuditEntries(manager, entries);
    due.forEach((audit, i) => (audit.written = { id: ids[i], entry: entries[i] }));
  }

  /** Called by UnitOfWork once a transaction has committed or rolled back. */
  transactionEnded(committed: boolean): void {
    if (this.phase !== 'in-transaction') return;
    if (committed && this.written) {
      this.phase = 'written';
    } else {
      this.phase = 'open';
      this.written = undefined;
    }
    this.settle();
  }

  /**
   * Another node serves the request and records it in the same transaction as its change
   * (a cluster's forwarding): this node writes nothing for it.
   */
  handOver(): void {
    if (this.phase === 'open') this.phase = 'settled';
  }

  /** The answer is final (sent, or the client left); later transactions of the request carry nothing. */
  finish(outcome: AuditOutcome): void {
    if (this.outcome) return;
    this.outcome = outcome;
    if (--RequestAudit.open === 0) RequestAudit.current.disable();
    this.settle();
  }

  private settle(): void {
    if (!this.outcome || this.phase === 'in-transaction' || this.phase === 'settled') return;
    // Ids created by a transaction that did not commit name nothing that exists.
    const final = this.describe(this.outcome, this.written ? this.created : []);
    if (this.written) {
      const { id, entry } = this.written;
      const added = final.targets.filter((target) => !entry.targets.includes(target));
      const changed = final.status !== entry.status || final.errorCode !== entry.errorCode;
      if (changed || added.length) this.sink.enqueueCorrection(id, changed ? { status: final.status, errorCode: final.errorCode } : null, added);
    } else {
      this.sink.enqueue(final);
    }
    this.phase = 'settled';
  }
}

/** Requests that the catalog-permission check answered 404 (not visible), told apart from other 404s. */
const refusedByAuthorization = new WeakSet<object>();

/** Marks `request` as refused by authorization with a 404, so that its record is kept like a 401's. */
export function noteAuthorizationRefusal(request: object): void {
  refusedByAuthorization.add(request);
}

export function wasRefusedByAuthorization(request: object): boolean {
  return refusedByAuthorization.has(request);
}

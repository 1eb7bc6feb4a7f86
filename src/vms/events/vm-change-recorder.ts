import { Injectable, Logger } from '@nestjs/common';
import { RequestAudit } from '../../audit/request-audit';
import { UnitOfWork } from '../../database/unit-of-work';
import { VmsRepository } from '../vms.repository';
import { VmEvents } from './vm-events.service';
import { CausedChange } from './vm-state-causes';

/**
 * Changes written in one transaction at most: enough to spare a burst most commits, few
 * enough that the first of them are published while the rest are still being written.
 */
const MAX_CHANGES_PER_WRITE = 64;

/**
 * Records the changes drivers report (and the state a request ends in) and publishes each
 * once it is committed. A change that
 * arrives while a write is waiting for its turn joins that write: a burst (500 VMs starting
 * at once) costs a few transactions instead of one commit, and one fsync, per change. Changes
 * are written and published in arrival order, so each VM's events stay in order.
 */
@Injectable()
export class VmChangeRecorder {
  private readonly logger = new Logger('VmState');
  /**
   * The write not yet begun, with its changes and the audits of the requests that joined it
   * (their records commit with their changes); undefined when none waits.
   */
  private waiting: { changes: CausedChange[]; audits: RequestAudit[]; done: Promise<void> } | undefined;

  constructor(
    private readonly unitOfWork: UnitOfWork,
    private readonly repository: VmsRepository,
    private readonly events: VmEvents,
  ) {}

  /** Resolves once the change is committed and published; rejects (and logs) when the write failed, which then changed nothing. */
  record(change: CausedChange): Promise<void> {
    if (this.waiting && this.waiting.changes.length < MAX_CHANGES_PER_WRITE) {
      this.waiting.changes.push(change);
      const audit = RequestAudit.active();
      if (audit) this.waiting.audits.push(audit);
      return this.waiting.done;
    }
    const changes = [change];
    const audits: RequestAudit[] = [];
    const done = this.unitOfWork
      .run(async (manager) => {
        if (this.waiting?.changes === changes) this.waiting = undefined; // later changes wait for the next write
        return this.repository.recordIn(manager, changes.map(({ cause: _cause, ...reported }) => reported));
      }, audits)
      .then((recorded) => recorded.forEach((one, i) => this.events.recorded(one, changes[i].cause)));
    done.catch((error: Error) => this.logger.warn(`recording ${changes.length} change(s) of VMs ${[...new Set(changes.map((c) => c.vmid))].join(', ')} failed: ${error.message}`));
    this.waiting = { changes, audits, done };
    return done;
  }
}

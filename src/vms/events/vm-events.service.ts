import { Injectable } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import type { RecordedChange } from '../vms.repository';
import { Replay, VmEventBacklog } from './vm-event-backlog';
import { toVmEvent, VmEvent, VmEventBody, VmEventCause } from './vm-event';

export type VmEventListener = (event: VmEvent) => void;

/**
 * The event log of every VM: numbers each event, keeps the last VELOCITY_EVENT_BACKLOG of
 * them and hands each to every open stream, synchronously and in order. Callers publish
 * only what is committed (after their transaction), so a rolled-back change is never seen.
 *
 * Ids start at the server's start time in microseconds and count up by one, so ids of a
 * later run are larger than any of an earlier one: a client resuming across a restart with
 * an id of the old run gets `reset`, never another run's events under its old numbers.
 */
@Injectable()
export class VmEvents {
  private readonly backlog: VmEventBacklog;
  private readonly listeners = new Set<VmEventListener>();
  private nextId = Date.now() * 1000;

  constructor(config: AppConfig) {
    this.backlog = new VmEventBacklog(config.eventBacklog, this.nextId);
  }

  publish(body: VmEventBody): void {
    const event = toVmEvent(body, this.nextId++, new Date());
    this.backlog.push(event);
    for (const listener of this.listeners) listener(event);
  }

  /** Publishes what a committed write of a VM's state or error changed (nothing for a VM that is gone). */
  recorded(change: RecordedChange | null, cause: VmEventCause): void {
    if (!change) return;
    const { vmid, cid } = change;
    if (change.state !== change.previousState) {
      this.publish({ type: 'state', vmid, cid, previous: change.previousState, state: change.state, cause });
    }
    if (change.lastError) this.publish({ type: 'error', vmid, cid, last_error: change.lastError });
  }

  /**
   * Starts delivering new events to `listener` and returns, at the same moment, what a
   * client that last saw `lastId` missed (nothing without an id), so no event is lost or
   * delivered twice in between. Returns the function that stops the delivery.
   */
  follow(listener: VmEventListener, lastId: number | undefined): { replay: Replay; stop: () => void } {
    this.listeners.add(listener);
    const replay: Replay = lastId === undefined ? { kind: 'missed', events: [] } : this.backlog.since(lastId);
    return { replay, stop: () => void this.listeners.delete(listener) };
  }
}

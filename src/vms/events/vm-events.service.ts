import { Injectable } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import type { RecordedChange } from '../vms.repository';
import { Replay, VmEventBacklog } from './vm-event-backlog';
import { RelayedVmEvent, toVmEvent, VmEvent, VmEventBody, VmEventCause } from './vm-event';

/** An open stream's end of the event log: every event in order, and word of a gap. */
export interface VmEventFollower {
  event(event: VmEvent): void;
  /**
   * Events may have been missed (this server lost its connection to the cluster's database);
   * the numbering starts afresh after `latestId`.
   */
  missed(latestId: number): void;
}

/**
 * The event log of every VM: numbers each event, keeps the last VELOCITY_EVENT_BACKLOG of
 * them and hands each to every open stream, synchronously and in order. Callers publish
 * only what is committed (after their transaction), so a rolled-back change is never seen.
 *
 * Ids start at the server's start time in microseconds and count up by one, so ids of a
 * later run are larger than any of an earlier one: a client resuming across a restart with
 * an id of the old run gets `reset`, never another run's events under its old numbers.
 *
 * In a cluster (relayTo), every node hears every node's events and numbers all of them in
 * its own sequence, in the order it heard them: there is no order all nodes agree on, so an
 * id means something only on the node that gave it out. Each sequence starts at a random
 * point of [1e15, 8e15) — when the node joins, and again after every gap (`missed`) — so a
 * Last-Event-ID from another node, or from before a gap, lies outside this node's backlog
 * (odds of the contrary: the backlog's length in 7e15) and gets `reset`, never events the
 * client has already seen or the wrong ones. Behind a load balancer, a client that resumes
 * on another node reloads once, then follows that node.
 */
@Injectable()
export class VmEvents {
  private backlog: VmEventBacklog;
  private readonly followers = new Set<VmEventFollower>();
  private nextId = Date.now() * 1000;
  private outbound: ((event: RelayedVmEvent) => void) | undefined;

  constructor(private readonly config: AppConfig) {
    this.backlog = new VmEventBacklog(config.eventBacklog, this.nextId);
  }

  /** An event that happened here: this server's streams get it, then the other nodes (relayTo). */
  publish(body: VmEventBody): void {
    const at = new Date();
    this.append(body, at);
    this.outbound?.({ body, timestamp: at.toISOString() });
  }

  /** An event another node published: numbered here and given to this server's streams only. */
  deliver(relayed: RelayedVmEvent): void {
    this.append(relayed.body, new Date(relayed.timestamp));
  }

  /** Joins a cluster: every event published here is also handed to `outbound`, and the numbering starts at a random point. */
  relayTo(outbound: (event: RelayedVmEvent) => void): void {
    this.outbound = outbound;
    this.renumber();
  }

  /** Events may have been missed: the backlog and numbering start afresh, and every open stream is told (`reset`). */
  missed(): void {
    this.renumber();
    for (const follower of this.followers) follower.missed(this.backlog.latestId);
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
   * Starts delivering new events to `follower` and returns, at the same moment, what a
   * client that last saw `lastId` missed (nothing without an id), so no event is lost or
   * delivered twice in between. Returns the function that stops the delivery.
   */
  follow(follower: VmEventFollower, lastId: number | undefined): { replay: Replay; stop: () => void } {
    this.followers.add(follower);
    const replay: Replay = lastId === undefined ? { kind: 'missed', events: [] } : this.backlog.since(lastId);
    return { replay, stop: () => void this.followers.delete(follower) };
  }

  private append(body: VmEventBody, at: Date): void {
    const event = toVmEvent(body, this.nextId++, at);
    this.backlog.push(event);
    for (const follower of this.followers) follower.event(event);
  }

  private renumber(): void {
    this.nextId = 1e15 + Math.floor(Math.random() * 7e15);
    this.backlog = new VmEventBacklog(this.config.eventBacklog, this.nextId);
  }
}

import { Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AccessChanges } from '../common/access-changes';
import type { VmEvents } from '../vms/events/vm-events.service';
import { ClusterSignal, decodeSignal, encodeSignal } from './cluster-signal';
import { SignalConnection } from './signal-connection';

export interface ClusterRelayOptions {
  /** The cluster's database (a postgres:// URL). */
  url: string;
  /** This node's name, shown in pg_stat_activity (application_name `velocity-signals:<name>`). */
  nodeName: string;
  accessChanges: AccessChanges;
  vmEvents: VmEvents;
  /** The first wait before reconnecting, doubled after each failure up to `maxRetryMs`. */
  firstRetryMs?: number;
  maxRetryMs?: number;
}

/**
 * While the connection is down, this node's caches are dropped (and its streams re-checked)
 * this often: changes made on other nodes are not heard then, so reads go to the database
 * instead and a revocation still takes effect here within a second.
 */
const DOWN_REFRESH_MS = 1000;

/** Signals waiting while the connection is down; past this many they are dropped for one `missed`. */
const MAX_WAITING = 10_000;

const EVERYTHING_CHANGED = { kind: 'everything-changed' } as const;

/**
 * Carries a cluster's cross-node signals through PostgreSQL LISTEN/NOTIFY: every access
 * change (AccessChanges) and VM event (VmEvents) published on this node is sent to the
 * others; what the others send is delivered to this node's listeners only, never sent on.
 * Each relay skips its own signals by a random origin id.
 *
 * Signals are sent in order, one at a time, through the listening session; while it is down
 * they wait (up to MAX_WAITING) and go out once it is back. Signals that may not have gone
 * out (the session broke under one, the waiting list overflowed, or one is too large for
 * NOTIFY's 8000 bytes, which is logged) are replaced by one `missed` in their place: the
 * others drop every cache and reset their event streams, which is always correct, only slower.
 *
 * When the session breaks, the relay reconnects with backoff. What other nodes sent in
 * between is lost, so this node drops every cache at once and every DOWN_REFRESH_MS while
 * down, and once back delivers `everything-changed` again and tells its event streams that
 * events may have been missed (`reset`).
 */
export class ClusterRelay implements OnModuleInit, OnModuleDestroy {
  /** This relay's id on the wire: signals carrying it are its own. */
  readonly origin = randomUUID();
  private readonly logger = new Logger('Cluster');
  /** The live session; undefined while reconnecting. */
  private connection: SignalConnection | undefined;
  /** Encoded signals not yet sent, oldest first. */
  private readonly waiting: string[] = [];
  /** Put where signals may have been lost, so that the others hear it in its place. */
  private readonly missedPayload = encodeSignal(this.origin, { type: 'missed' })!;
  private sending = false;
  private stopped = false;
  private readonly stop = new AbortController();
  private watching: Promise<void> = Promise.resolve();

  constructor(private readonly options: ClusterRelayOptions) {}

  /** Connects (a failure is thrown: the server does not start without its cluster) and starts relaying. */
  async onModuleInit(): Promise<void> {
    this.options.accessChanges.relayTo((change) => this.send({ type: 'access', change }));
    this.options.vmEvents.relayTo((event) => this.send({ type: 'event', event }));
    this.connection = await this.open();
    this.logger.log(`listening for the other nodes' signals`);
    this.watching = this.watch(this.connection);
    void this.flush();
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    this.stop.abort();
    await this.connection?.close();
    await this.watching;
  }

  /** Whether the session is up now. */
  get connected(): boolean {
    return this.connection !== undefined;
  }

  private send(signal: ClusterSignal): void {
    const payload = encodeSignal(this.origin, signal);
    if (payload === null) {
      this.logger.warn(`a ${signal.type} signal is too large for NOTIFY; the other nodes are told to reload everything instead`);
      this.waiting.push(this.missedPayload);
    } else if (this.waiting.length >= MAX_WAITING) {
      this.logger.warn(`${MAX_WAITING} signals wait for the connection; they are dropped, and the other nodes will be told to reload everything instead`);
      this.waiting.splice(0, this.waiting.length, this.missedPayload, payload);
    } else {
      this.waiting.push(payload);
    }
    void this.flush();
  }

  /** Sends what waits, in order, while the session is up. */
  private async flush(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      while (this.connection && this.waiting.length > 0) {
        const connection = this.connection;
        const payload = this.waiting.shift()!;
        try {
          await connection.send(payload);
        } catch {
          // Whether it went out is unknown: the others hear `missed` in its place. The session
          // is taken as broken: watch() opens a new one (after a wait, by when this loop has
          // ended) and sends what waits.
          this.waiting.unshift(this.missedPayload);
          await connection.close();
          return;
        }
      }
    } finally {
      this.sending = false;
    }
  }

  private receive(payload: string): void {
    const envelope = decodeSignal(payload);
    if (envelope?.origin === this.origin) return;
    const { accessChanges, vmEvents } = this.options;
    try {
      if (envelope === null) {
        this.logger.warn('a signal that is not one of this version\'s; reloading everything');
        this.missedSignals();
      } else if (envelope.type === 'access') accessChanges.deliver(envelope.change);
      else if (envelope.type === 'event') vmEvents.deliver(envelope.event);
      else this.missedSignals();
    } catch (error) {
      this.logger.error(`delivering a signal failed: ${(error as Error)?.stack ?? String(error)}`);
    }
  }

  /** Signals meant for this node may be lost: every cache drops everything, every event stream is reset. */
  private missedSignals(): void {
    this.options.accessChanges.deliver(EVERYTHING_CHANGED);
    this.options.vmEvents.missed();
  }

  /** Reconnects each time the session breaks, until the relay stops. */
  private async watch(connection: SignalConnection): Promise<void> {
    for (;;) {
      const error = await connection.ended;
      this.connection = undefined;
      await connection.close(); // an error may have left the socket open, still listening
      if (this.stopped) return;
      this.logger.warn(`lost the connection for the other nodes' signals (${error?.message ?? 'closed'}); reconnecting`);
      const next = await this.reconnect();
      if (!next) return;
      connection = next;
      this.connection = next;
      this.logger.log('reconnected for the other nodes\' signals; dropped every cache, event streams are reset');
      this.missedSignals();
      void this.flush();
    }
  }

  /** A new session, after waits that double from firstRetryMs to maxRetryMs; undefined once the relay stops. */
  private async reconnect(): Promise<SignalConnection | undefined> {
    const { firstRetryMs = 100, maxRetryMs = 2000 } = this.options;
    this.options.accessChanges.deliver(EVERYTHING_CHANGED);
    const refresh = setInterval(() => this.options.accessChanges.deliver(EVERYTHING_CHANGED), DOWN_REFRESH_MS);
    try {
      for (let wait = firstRetryMs; ; wait = Math.min(wait * 2, maxRetryMs)) {
        try {
          await sleep(wait, undefined, { signal: this.stop.signal });
          const connection = await this.open();
          if (!this.stopped) return connection;
          await connection.close();
          return undefined;
        } catch {
          if (this.stopped) return undefined;
        }
      }
    } finally {
      clearInterval(refresh);
    }
  }

  private open(): Promise<SignalConnection> {
    return SignalConnection.open(this.options.url, `velocity-signals:${this.options.nodeName}`, (payload) => this.receive(payload));
  }
}

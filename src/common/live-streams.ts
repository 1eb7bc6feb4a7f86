import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { AccessChange, AccessChanges } from './access-changes';
import { Clock } from './clock';
import { ApiError } from './errors/api-error';

/**
 * Why a stream ended, as a WebSocket close: 4401 when its authkey is gone (revoked, renewed,
 * expired, its user deleted), 4403 when its permission is gone (share, membership, catalog or
 * VM), 1011 when the check itself failed; `reason` is the error code.
 */
export interface StreamEnd {
  code: number;
  reason: string;
}

/** The authkey (or API token) a stream was opened with. */
export interface StreamCredential {
  keyHash: string;
  /** Unix seconds; null: never (an API token without expiry, which only revocation ends). */
  expiresAt: number | null;
}

/**
 * Runs a stream's authorization again; returns the catalog it reads from (null: every
 * catalog the caller may see, as an event stream without a filter), or throws the ApiError
 * that refuses it now.
 */
export type StreamCheck = () => Promise<string | null>;

/** A stream ends at most this long after its authkey expires. */
const EXPIRY_SWEEP_MS = 500;

const logger = new Logger('Streams');

function endFor(error: unknown): StreamEnd {
  if (error instanceof ApiError) return { code: error.code === 'AUTH_REQUIRED' ? 4401 : 4403, reason: error.code };
  logger.error(`re-checking a stream failed: ${(error as Error)?.stack ?? String(error)}`);
  return { code: 1011, reason: 'INTERNAL_ERROR' };
}

/** One open stream's right to exist. */
export class LiveStream {
  private readonly controller = new AbortController();
  /** The catalog the last check found (null: any); undefined until the first check passes. */
  private cid: string | null | undefined;
  /** The checks so far, one after another; traffic waits for the last. */
  private checks: Promise<void> = Promise.resolve();

  constructor(
    readonly credential: StreamCredential,
    private readonly check: StreamCheck,
    private readonly clock: Clock,
  ) {}

  private get ended(): boolean {
    return this.controller.signal.aborted;
  }

  /** Calls `listener` once when the stream ends (at once if it has). */
  onEnd(listener: (end: StreamEnd) => void): void {
    const signal = this.controller.signal;
    if (signal.aborted) listener(signal.reason as StreamEnd);
    else signal.addEventListener('abort', () => listener(signal.reason as StreamEnd), { once: true });
  }

  /**
   * Whether the stream may still carry traffic. Waits for a check under way, so nothing a
   * client sends after a reported change gets through before the change is judged, and
   * looks at the key's expiry itself rather than wait for the next sweep.
   */
  async allowed(): Promise<boolean> {
    await this.checks;
    this.endIfExpired();
    return !this.ended;
  }

  endIfExpired(): void {
    const { expiresAt } = this.credential;
    if (expiresAt !== null && expiresAt <= this.clock.nowSeconds()) this.end({ code: 4401, reason: 'AUTH_REQUIRED' });
  }

  /** The holder is done with the stream (its socket closed). */
  release(): void {
    this.end({ code: 1000, reason: '' });
  }

  end(end: StreamEnd): void {
    if (!this.ended) this.controller.abort(end);
  }

  /** Whether a change to catalog `cid` may concern this stream (one still on its first check may read any). */
  readsFrom(cid: string): boolean {
    return this.cid === undefined || this.cid === null || this.cid === cid;
  }

  /** The first check; its refusal is the caller's to answer. */
  start(): Promise<void> {
    const first = this.check().then((cid) => void (this.cid = cid));
    this.checks = first.catch(() => undefined);
    return first;
  }

  /** Checks again after the checks before; a refusal ends the stream. */
  recheck(): void {
    this.checks = this.checks
      .then(async () => {
        if (!this.ended) this.cid = await this.check();
      })
      .catch((error: unknown) => this.end(endFor(error)));
  }
}

/**
 * Every open long-lived stream (console sockets, event streams and rfb sockets), each
 * kept only while its holder may still have it. The code that changes who may do what says
 * so through AccessChanges, which delivers here: a dropped authkey ends its streams at once; a change to users, groups
 * or memberships, or to a catalog (its shares, its VMs, the catalog itself), re-runs the
 * concerned streams' own checks (the same authorizer as the HTTP guard). Key expiry needs
 * no caller: a sweep compares each stream's expiry with the clock.
 */
@Injectable()
export class LiveStreams implements OnModuleInit, OnModuleDestroy {
  private readonly streams = new Set<LiveStream>();
  private sweep: NodeJS.Timeout | undefined;

  constructor(
    private readonly clock: Clock,
    changes: AccessChanges,
  ) {
    changes.subscribe((change) => this.changed(change));
  }

  /** What each reported change does to the open streams. */
  private changed(change: AccessChange): void {
    switch (change.kind) {
      case 'authkey-dropped':
        return this.authkeyDropped(change.keyHash);
      case 'memberships-changed':
      case 'group-deleted':
      case 'everything-changed':
        return this.membershipsChanged();
      case 'catalog-changed':
      case 'vm-changed':
        return this.catalogChanged(change.cid);
    }
  }

  onModuleInit(): void {
    this.sweep = setInterval(() => this.endExpired(), EXPIRY_SWEEP_MS).unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.sweep);
  }

  /**
   * Registers a stream and runs its first check, throwing the check's refusal. Changes
   * reported while that check runs are checked again after it, so none is missed.
   */
  async open(credential: StreamCredential, check: StreamCheck): Promise<LiveStream> {
    const stream = new LiveStream(credential, check, this.clock);
    this.streams.add(stream);
    stream.onEnd(() => this.streams.delete(stream));
    try {
      await stream.start();
    } catch (error) {
      stream.release();
      throw error;
    }
    return stream;
  }

  /** The key was revoked (logout, API token revocation) or renewed: its streams end now (4401). */
  authkeyDropped(keyHash: string): void {
    for (const stream of this.streams) {
      if (stream.credential.keyHash === keyHash) stream.end({ code: 4401, reason: 'AUTH_REQUIRED' });
    }
  }

  /** A user was deleted, memberships or groups were removed, or anything may have changed: every stream is checked again. */
  membershipsChanged(): void {
    for (const stream of this.streams) stream.recheck();
  }

  /** A catalog's shares changed, a VM in it was deleted, or the catalog was: its streams are checked again. */
  catalogChanged(cid: string): void {
    for (const stream of this.streams) if (stream.readsFrom(cid)) stream.recheck();
  }

  private endExpired(): void {
    for (const stream of this.streams) stream.endIfExpired();
  }
}

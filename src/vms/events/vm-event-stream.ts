import { Logger } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { ERROR_CODES, ErrorCode } from '../../common/errors/error-codes';
import { LiveStream } from '../../common/live-streams';
import { CatalogViews } from './catalog-views';
import { VmEvent } from './vm-event';
import { VmEvents } from './vm-events.service';

export interface VmEventStreamOptions {
  /** Only events of this VM. */
  vmid?: string;
  /** Only events of VMs in this catalog. */
  cid?: string;
  /** More unsent events than this end the stream (EVENT_STREAM_BEHIND). */
  maxUnsent: number;
  heartbeatMs: number;
}

const logger = new Logger('Events');

/** What waits to be written: an event (sent if the caller may view its catalog `cid`) or a reset (sent to everyone). */
type Unsent = Pick<VmEvent, 'frame'> & { cid?: string };

/** The frame telling a client to reload what it needs: events it should have had are not coming; later ones follow `latestId`. */
function resetFrame(latestId: number, reason: string): string {
  return `id: ${latestId}\nevent: reset\ndata: ${JSON.stringify({ reason })}\n\n`;
}

/**
 * One open `GET /v/events` response. Events arrive from the event log in publication order
 * and wait in one queue; each is sent once the stream's right is settled (`live.allowed()`
 * waits for a re-check under way) and only if the caller may view its catalog. A client that
 * reads slower than events come is not buffered without bound: once more than `maxUnsent`
 * events wait (the socket's own buffer being full), the stream ends with EVENT_STREAM_BEHIND,
 * which a client can resume from, since the backlog is at least as long. Word of a gap in a
 * cluster's signals (VmEvents.missed) waits in the same queue, as a reset, so it comes after
 * the events before it and before those after it. The queue holds
 * references to the shared events: an open stream costs a few KiB beyond its socket
 * (test/vms/events/vm-events-memory.spec.ts measures it).
 */
export class VmEventStream {
  private unsent: Unsent[] = [];
  private sending = false;
  private closed = false;
  private heartbeat: NodeJS.Timeout | undefined;
  private stopFollowing: () => void = () => undefined;

  constructor(
    private readonly response: ServerResponse,
    private readonly live: LiveStream,
    private readonly views: CatalogViews,
    private readonly options: VmEventStreamOptions,
    private readonly onClose: () => void,
  ) {}

  /**
   * Follows the event log from `lastId` (the missed events first, or `reset` when the backlog
   * no longer has them; without an id, from now on), until the client leaves or the stream's
   * right ends.
   */
  start(events: VmEvents, lastId: number | undefined): void {
    const { replay, stop } = events.follow({ event: (event) => this.offer(event), missed: (latestId) => this.missed(latestId) }, lastId);
    this.stopFollowing = stop;
    if (replay.kind === 'reset') this.response.write(resetFrame(replay.latestId, 'the events after your Last-Event-ID are not kept here (too old, or the id is from another run or node); reload the state you need'));
    else for (const event of replay.events) this.offer(event);
    // A comment line: EventSource ignores it, proxies see traffic. Skipped while the socket is full.
    this.heartbeat = setInterval(() => {
      if (!this.response.writableNeedDrain) this.response.write(': heartbeat\n\n');
    }, this.options.heartbeatMs);
    this.response.once('close', () => this.close());
    if (this.response.destroyed) this.close(); // the client left while the stream was being set up
    this.live.onEnd(({ reason }) => this.finish(reason === '' ? undefined : (reason as ErrorCode)));
  }

  /** Tells the client, after the events before it, that some may have been missed (a gap in the cluster's signals). */
  private missed(latestId: number): void {
    this.queue({ frame: resetFrame(latestId, 'events may have been missed (this server lost its connection to the cluster); reload the state you need') });
  }

  private offer(event: VmEvent): void {
    if ((this.options.vmid && event.vmid !== this.options.vmid) || (this.options.cid && event.cid !== this.options.cid)) return;
    this.queue(event);
  }

  private queue(unsent: Unsent): void {
    if (this.closed) return;
    this.unsent.push(unsent);
    if (this.unsent.length > this.options.maxUnsent) return this.finish('EVENT_STREAM_BEHIND');
    if (!this.sending) void this.send();
  }

  /** Writes a last `end` event naming why (none when the client left), then ends the response. */
  finish(code?: ErrorCode): void {
    if (this.closed) return;
    if (code && !this.response.destroyed) {
      this.response.write(`event: end\ndata: ${JSON.stringify({ code, message: ERROR_CODES[code].description })}\n\n`);
    }
    this.response.end();
    this.close();
  }

  private async send(): Promise<void> {
    this.sending = true;
    try {
      while (this.unsent.length > 0 && !this.closed) {
        if (!(await this.live.allowed())) return; // the stream's end is being written
        const next = this.unsent[0];
        if ((next.cid === undefined || (await this.views.mayView(next.cid))) && !this.closed && !this.response.write(next.frame)) await this.drained();
        this.unsent.shift();
      }
    } catch (error) {
      logger.error(`an event stream failed: ${(error as Error)?.stack ?? String(error)}`);
      this.finish('INTERNAL_ERROR');
    } finally {
      this.sending = false;
    }
  }

  /** Resolves when the socket takes more, or is gone. */
  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.response.off('drain', done);
        this.response.off('close', done);
        resolve();
      };
      this.response.on('drain', done);
      this.response.on('close', done);
    });
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsent = [];
    clearInterval(this.heartbeat);
    this.stopFollowing();
    this.live.release();
    this.onClose();
  }
}

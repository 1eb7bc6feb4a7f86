import { request, IncomingMessage, ClientRequest } from 'node:http';

/** One Server-Sent Event as a client reads it. */
export interface SseEvent {
  id?: string;
  event: string;
  /** The `data:` lines joined; parsed with `json`. */
  data: string;
  /** When the event's last line arrived (performance.now()). */
  receivedAt: number;
}

export function json<T = any>(event: SseEvent): T {
  return JSON.parse(event.data) as T;
}

/**
 * A small Server-Sent Events client over node:http (no EventSource in Node): opens the
 * stream, parses frames as they arrive (comments counted, not kept), and lets a test wait
 * for events. A refused request resolves with its status and JSON body instead.
 */
export class SseClient {
  readonly events: SseEvent[] = [];
  comments = 0;
  ended = false;
  private buffer = '';
  private current: { id?: string; event?: string; data: string[] } = { data: [] };
  private waiters: Array<() => void> = [];

  private constructor(
    private readonly req: ClientRequest,
    readonly response: IncomingMessage,
  ) {
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => this.feed(chunk));
    response.on('end', () => this.finish());
    response.on('close', () => this.finish());
    response.on('error', () => this.finish());
  }

  /** Opens `url`; resolves once the response head arrived. */
  static open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    return new Promise((resolve, reject) => {
      const req = request(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => resolve(new SseClient(req, res)));
      req.on('error', reject);
      req.end();
    });
  }

  /** For a refused request: the whole body, parsed as JSON. */
  async errorBody(): Promise<any> {
    await this.untilEnded(5000);
    return JSON.parse(this.buffer);
  }

  get status(): number {
    return this.response.statusCode ?? 0;
  }

  /** Events other than `end`. */
  named(event: string): SseEvent[] {
    return this.events.filter((e) => e.event === event);
  }

  /** Resolves with the first event (from the start of the stream) that matches; rejects after `ms`. */
  async waitFor(match: (event: SseEvent) => boolean, ms: number, what: string): Promise<SseEvent> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.events.find(match);
      if (found) return found;
      if (this.ended) throw new Error(`the stream ended before ${what}; got ${this.events.map((e) => e.event).join(', ')}`);
      if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await this.next(deadline - Date.now());
    }
  }

  /** Resolves once `count` events matching arrived. */
  async waitForCount(match: (event: SseEvent) => boolean, count: number, ms: number, what: string): Promise<SseEvent[]> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.events.filter(match);
      if (found.length >= count) return found;
      if (this.ended || Date.now() > deadline) throw new Error(`${what}: ${found.length} of ${count} events${this.ended ? ' before the stream ended' : ` after ${ms} ms`}`);
      await this.next(deadline - Date.now());
    }
  }

  async untilEnded(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.ended) {
      if (Date.now() > deadline) throw new Error(`the stream was still open after ${ms} ms`);
      await this.next(deadline - Date.now());
    }
  }

  /** The id of the last event received, as a client would send it in Last-Event-ID. */
  get lastEventId(): string | undefined {
    return [...this.events].reverse().find((e) => e.id !== undefined)?.id;
  }

  close(): void {
    this.req.destroy();
    this.finish();
  }

  private next(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(ms, 0));
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }

  private finish(): void {
    this.ended = true;
    this.wake();
  }

  private feed(chunk: string): void {
    if (this.status !== 200) {
      this.buffer += chunk;
      return;
    }
    this.buffer += chunk;
    let newline: number;
    while ((newline = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, newline).replace(/\r$/, '');
      this.buffer = this.buffer.slice(newline + 1);
      this.line(line);
    }
    this.wake();
  }

  private line(line: string): void {
    if (line === '') {
      if (this.current.data.length || this.current.event) {
        this.events.push({ id: this.current.id, event: this.current.event ?? 'message', data: this.current.data.join('\n'), receivedAt: performance.now() });
      }
      this.current = { data: [] };
      return;
    }
    if (line.startsWith(':')) {
      this.comments++;
      return;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id') this.current.id = value;
    else if (field === 'event') this.current.event = value;
    else if (field === 'data') this.current.data.push(value);
  }
}

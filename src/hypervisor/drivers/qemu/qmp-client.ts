import { connect, Socket } from 'node:net';
import { Observable, Subject } from 'rxjs';

/**
 * A small client for the QEMU Machine Protocol over a Unix socket: JSON documents, one per
 * line. The server greets first; `qmp_capabilities` leaves negotiation mode; then every
 * command carries an `id` that its reply echoes, and asynchronous events arrive in between.
 * See qemu/docs/interop/qmp-spec.rst.
 */

export interface QmpGreeting {
  QMP: { version: { qemu: { major: number; minor: number; micro: number }; package: string }; capabilities: string[] };
}

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp: { seconds: number; microseconds: number };
}

/** QEMU answered a command with an error (`class` is e.g. GenericError, CommandNotFound). */
export class QmpCommandError extends Error {
  override readonly name: string = 'QmpCommandError';

  constructor(
    readonly command: string,
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(`QMP ${command}: ${desc} (${errorClass})`);
  }
}

/** The connection could not be made, was lost, or a reply did not come in time. */
export class QmpConnectionError extends Error {
  override readonly name: string = 'QmpConnectionError';
}

interface PendingCommand {
  command: string;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export interface QmpConnectOptions {
  /** Bound for connecting, the greeting and capability negotiation together. */
  timeoutMs?: number;
  /** Default bound for each command's reply. */
  commandTimeoutMs?: number;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;
/** A reply line longer than this is a protocol error, not something to buffer forever. */
const MAX_LINE_BYTES = 16 * 1024 * 1024;

export class QmpClient {
  private readonly eventSubject = new Subject<QmpEvent>();
  /** Asynchronous events (STOP, RESUME, SHUTDOWN, …) in the order QEMU sent them. */
  readonly events$: Observable<QmpEvent> = this.eventSubject.asObservable();
  private readonly pending = new Map<number, PendingCommand>();
  private nextId = 1;
  private buffer = '';
  private closedReason?: string;
  private readonly closedPromise: Promise<string>;
  private resolveClosed!: (reason: string) => void;
  private greetingWaiter?: { resolve: (g: QmpGreeting) => void; reject: (err: Error) => void };
  private greetingValue?: QmpGreeting;

  private constructor(
    private readonly socket: Socket,
    readonly path: string,
    private readonly commandTimeoutMs: number,
  ) {
    this.closedPromise = new Promise((resolve) => (this.resolveClosed = resolve));
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.receive(chunk));
    socket.on('error', (err) => this.shutdown(`QMP connection error: ${err.message}`));
    socket.on('close', () => this.shutdown('QMP connection closed by QEMU'));
  }

  /** Connects, reads the greeting and negotiates capabilities. */
  static async connect(path: string, options: QmpConnectOptions = {}): Promise<QmpClient> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(path);
      const fail = (err: Error): void => {
        s.destroy();
        reject(new QmpConnectionError(`cannot connect to the QMP socket ${path}: ${err.message}`));
      };
      s.once('error', fail);
      s.once('connect', () => {
        s.off('error', fail);
        resolve(s);
      });
    });
    const client = new QmpClient(socket, path, options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.greeting(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new QmpConnectionError(
                  `no QMP greeting on ${path} within ${timeoutMs} ms (is another client connected to this monitor?)`,
                ),
              ),
            timeoutMs,
          );
        }),
      ]);
      await client.execute('qmp_capabilities', undefined, timeoutMs);
      return client;
    } catch (err) {
      client.close();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The server's greeting (QEMU version), once received. */
  get version(): QmpGreeting['QMP']['version'] | undefined {
    return this.greetingValue?.QMP.version;
  }

  get closed(): boolean {
    return this.closedReason !== undefined;
  }

  /** Resolves with the reason once the connection is gone (EOF, error or close()). */
  whenClosed(): Promise<string> {
    return this.closedPromise;
  }

  /**
   * Runs a command and resolves with its `return` value. Rejects with QmpCommandError
   * when QEMU answers with an error, QmpConnectionError when the connection is lost or
   * no reply comes within the timeout.
   */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs = this.commandTimeoutMs): Promise<T> {
    if (this.closedReason !== undefined) {
      return Promise.reject(new QmpConnectionError(`QMP ${command}: ${this.closedReason}`));
    }
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new QmpConnectionError(`QMP ${command}: no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { command, resolve: resolve as (value: unknown) => void, reject, timer });
      const message = args === undefined ? { execute: command, id } : { execute: command, arguments: args, id };
      this.socket.write(`${JSON.stringify(message)}\n`);
    });
  }

  /** Closes the connection; pending commands are rejected. QEMU keeps running. */
  close(): void {
    this.shutdown('QMP connection closed by the client');
  }

  private greeting(): Promise<QmpGreeting> {
    if (this.greetingValue) return Promise.resolve(this.greetingValue);
    if (this.closedReason !== undefined) return Promise.reject(new QmpConnectionError(this.closedReason));
    return new Promise((resolve, reject) => (this.greetingWaiter = { resolve, reject }));
  }

  private receive(chunk: string): void {
    this.buffer += chunk;
    if (this.buffer.length > MAX_LINE_BYTES) {
      this.shutdown('QMP protocol error: a line longer than 16 MiB');
      return;
    }
    let newline: number;
    while ((newline = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, newline).trim();
      this.buffer = this.buffer.slice(newline + 1);
      if (line === '') continue;
      let message: Record<string, unknown>;
      try {
        message = JSON.parse(line) as Record<string, unknown>;
      } catch {
        this.shutdown(`QMP protocol error: not JSON: ${line.slice(0, 200)}`);
        return;
      }
      this.dispatch(message);
    }
  }

  private dispatch(message: Record<string, unknown>): void {
    if ('QMP' in message) {
      this.greetingValue = message as unknown as QmpGreeting;
      this.greetingWaiter?.resolve(this.greetingValue);
      this.greetingWaiter = undefined;
      return;
    }
    if (typeof message.event === 'string') {
      this.eventSubject.next(message as unknown as QmpEvent);
      return;
    }
    const id = message.id;
    if (typeof id !== 'number') return; // a reply to a command that was not ours
    const pending = this.pending.get(id);
    if (!pending) return; // timed out already
    this.pending.delete(id);
    clearTimeout(pending.timer);
    if ('error' in message) {
      const error = (message.error ?? {}) as { class?: string; desc?: string };
      pending.reject(new QmpCommandError(pending.command, error.class ?? 'GenericError', error.desc ?? 'unknown error'));
    } else {
      pending.resolve(message.return);
    }
  }

  private shutdown(reason: string): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    this.socket.destroy();
    const err = new QmpConnectionError(reason);
    this.greetingWaiter?.reject(err);
    this.greetingWaiter = undefined;
    for (const [id, pending] of this.pending) {
      this.pending.delete(id);
      clearTimeout(pending.timer);
      pending.reject(new QmpConnectionError(`QMP ${pending.command}: ${reason}`));
    }
    this.eventSubject.complete();
    this.resolveClosed(reason);
  }
}

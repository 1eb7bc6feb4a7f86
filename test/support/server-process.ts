import { ChildProcess, spawn } from 'node:child_process';
import { createServer, AddressInfo } from 'node:net';
import { join } from 'node:path';
import { sleep } from './wait';

const MAIN = join(__dirname, '..', '..', 'src', 'main.js');

/** A TCP port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * The server as `npm start` runs it, in a process of its own (sim driver), for tests that
 * signal or kill it, or whose load must not share the test's event loop. Can be started
 * again on the same data directory and port after it ended.
 */
export class ServerProcess {
  /** Everything the server wrote to stdout and stderr, across starts. */
  log = '';
  private child?: ChildProcess;
  private exited?: Promise<number | null>;

  private constructor(
    readonly dataDir: string,
    readonly port: number,
    private readonly env: Record<string, string>,
  ) {}

  static async start(dataDir: string, env: Record<string, string> = {}): Promise<ServerProcess> {
    const server = new ServerProcess(dataDir, await freePort(), env);
    await server.start();
    return server;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts the process and resolves once /ready answers (30 s at most). */
  async start(): Promise<void> {
    const child = spawn(process.execPath, [MAIN], {
      env: { ...process.env, VELOCITY_DATA_DIR: this.dataDir, VELOCITY_PORT: String(this.port), VELOCITY_HYPERVISOR: 'sim', ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout!.on('data', (chunk: Buffer) => (this.log += chunk));
    child.stderr!.on('data', (chunk: Buffer) => (this.log += chunk));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}: ${this.log.slice(-2000)}`);
      if (await fetch(`${this.url}${this.env.VELOCITY_BASE_PATH ?? ''}/ready`).then((r) => r.ok, () => false)) return;
      await sleep(100);
    }
    throw new Error('the server did not become ready in 30 s');
  }

  signal(signal: NodeJS.Signals): void {
    this.child?.kill(signal);
  }

  /** Resolves with the exit code once the process has ended. */
  ended(): Promise<number | null> {
    return this.exited ?? Promise.resolve(null);
  }

  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    this.signal(signal);
    return this.ended();
  }
}

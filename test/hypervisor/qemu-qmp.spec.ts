import assert from 'node:assert/strict';
import { createServer, Server, Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { QmpClient, QmpCommandError, QmpConnectionError, QmpEvent } from '../../src/hypervisor/drivers/qemu/qmp-client';
import { ScratchDir } from '../support/scratch-dir';

/**
 * The QMP client against a scripted fake QEMU monitor: greeting, capability negotiation,
 * id-correlated replies (out of order too), events, errors, timeouts and EOF.
 */

const GREETING = { QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 }, package: 'fake' }, capabilities: ['oob'] } };

type Handler = (command: { execute: string; arguments?: Record<string, unknown>; id?: unknown }, socket: Socket) => void;

class FakeMonitor {
  readonly server: Server;
  readonly received: { execute: string; arguments?: Record<string, unknown>; id?: unknown }[] = [];
  handler: Handler = (cmd, socket) => this.reply(socket, { return: {}, id: cmd.id });
  greet = true;
  sockets: Socket[] = [];

  constructor(readonly path: string) {
    this.server = createServer((socket) => {
      this.sockets.push(socket);
      if (this.greet) this.send(socket, GREETING);
      let buffer = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        buffer += chunk;
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const command = JSON.parse(buffer.slice(0, nl));
          buffer = buffer.slice(nl + 1);
          this.received.push(command);
          this.handler(command, socket);
        }
      });
      socket.on('error', () => undefined);
    });
  }

  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(this.path, resolve));
  }

  send(socket: Socket, message: unknown): void {
    socket.write(`${JSON.stringify(message)}\r\n`);
  }

  reply(socket: Socket, message: unknown): void {
    this.send(socket, message);
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe('QmpClient', () => {
  const dir = new ScratchDir('vq-qmp-');
  let monitor: FakeMonitor;
  let count = 0;

  after(() => dir.cleanup());

  async function fresh(): Promise<FakeMonitor> {
    monitor = new FakeMonitor(dir.file(`m${count++}.sock`));
    await monitor.listen();
    return monitor;
  }

  it('reads the greeting, negotiates capabilities, and correlates replies by id', async () => {
    const m = await fresh();
    const client = await QmpClient.connect(m.path);
    try {
      assert.deepEqual(client.version, GREETING.QMP.version);
      assert.equal(m.received[0].execute, 'qmp_capabilities');
      // Answer the two next commands in reverse order.
      const held: { id: unknown; socket: Socket; execute: string }[] = [];
      m.handler = (cmd, socket) => {
        held.push({ id: cmd.id, socket, execute: cmd.execute });
        if (held.length === 2) {
          for (const h of held.reverse()) m.reply(h.socket, { return: { status: h.execute }, id: h.id });
        }
      };
      const [a, b] = await Promise.all([
        client.execute<{ status: string }>('query-status'),
        client.execute<{ status: string }>('query-name', { x: 1 }),
      ]);
      assert.equal(a.status, 'query-status');
      assert.equal(b.status, 'query-name');
      assert.deepEqual(m.received[2].arguments, { x: 1 });
      assert.notEqual(m.received[1].id, m.received[2].id);
    } finally {
      client.close();
      await m.close();
    }
  });

  it('delivers events in order, between replies', async () => {
    const m = await fresh();
    const client = await QmpClient.connect(m.path);
    const events: QmpEvent[] = [];
    client.events$.subscribe((e) => events.push(e));
    m.handler = (cmd, socket) => {
      m.send(socket, { event: 'STOP', timestamp: { seconds: 1, microseconds: 0 } });
      m.send(socket, { event: 'RESUME', timestamp: { seconds: 2, microseconds: 0 } });
      m.reply(socket, { return: {}, id: cmd.id });
    };
    try {
      await client.execute('cont');
      assert.deepEqual(
        events.map((e) => e.event),
        ['STOP', 'RESUME'],
      );
    } finally {
      client.close();
      await m.close();
    }
  });

  it('turns an error reply into QmpCommandError with class and description', async () => {
    const m = await fresh();
    const client = await QmpClient.connect(m.path);
    m.handler = (cmd, socket) => m.reply(socket, { error: { class: 'GenericError', desc: 'nope' }, id: cmd.id });
    try {
      await assert.rejects(
        client.execute('screendump', { filename: '/x' }),
        (e: unknown) => e instanceof QmpCommandError && e.errorClass === 'GenericError' && e.desc === 'nope' && /screendump/.test(e.message),
      );
    } finally {
      client.close();
      await m.close();
    }
  });

  it('times a command out, and ignores its late reply', async () => {
    const m = await fresh();
    const client = await QmpClient.connect(m.path);
    let late: { id: unknown; socket: Socket } | undefined;
    m.handler = (cmd, socket) => (late = { id: cmd.id, socket });
    try {
      await assert.rejects(client.execute('query-status', undefined, 100), (e: unknown) => e instanceof QmpConnectionError && /no reply within 100 ms/.test(e.message));
      m.reply(late!.socket, { return: { status: 'late' }, id: late!.id });
      m.handler = (cmd, socket) => m.reply(socket, { return: { status: 'fresh' }, id: cmd.id });
      assert.deepEqual(await client.execute('query-status'), { status: 'fresh' });
    } finally {
      client.close();
      await m.close();
    }
  });

  it('rejects pending commands and reports the reason when QEMU closes the connection', async () => {
    const m = await fresh();
    const client = await QmpClient.connect(m.path);
    m.handler = (_cmd, socket) => socket.end();
    try {
      await assert.rejects(client.execute('quit'), (e: unknown) => e instanceof QmpConnectionError && /closed by QEMU/.test(e.message));
      assert.match(await client.whenClosed(), /closed by QEMU/);
      assert.equal(client.closed, true);
      await assert.rejects(client.execute('query-status'), QmpConnectionError);
    } finally {
      await m.close();
    }
  });

  it('fails to connect with a clear message: no socket, or no greeting (another client holds the monitor)', async () => {
    await assert.rejects(QmpClient.connect(dir.file('none.sock')), (e: unknown) => e instanceof QmpConnectionError && /cannot connect/.test(e.message));
    const m = await fresh();
    m.greet = false;
    try {
      await assert.rejects(
        QmpClient.connect(m.path, { timeoutMs: 200 }),
        (e: unknown) => e instanceof QmpConnectionError && /no QMP greeting.*another client/.test(e.message),
      );
    } finally {
      await m.close();
    }
  });
});

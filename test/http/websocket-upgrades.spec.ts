import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { CatalogAuthorizer } from '../../src/catalogs/permissions/catalog-authorizer';
import { HANDSHAKE, rawUpgrade } from '../support/raw-upgrade';
import { ScratchDir } from '../support/scratch-dir';
import { ServerProcess } from '../support/server-process';
import { TestApp } from '../support/test-app';
import { createEfiVm, makeVmWorld, VmWorld } from '../support/vm-fixture';
import { eventually, within } from '../support/wait';

function connections(server: Server): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((error, n) => (error ? reject(error) : resolve(n))));
}

/** Open file descriptors of this process (server and clients alike), where the OS shows them. */
function openFds(): number | undefined {
  return existsSync('/proc/self/fd') ? readdirSync('/proc/self/fd').length : undefined;
}

describe('WebSocket upgrades: every one is answered or destroyed', () => {
  let t: TestApp;
  let w: VmWorld;
  let vmid: string;
  let port: number;

  before(async () => {
    t = await TestApp.start({ env: { VELOCITY_UPGRADE_TIMEOUT: '1' } });
    port = await t.listen();
    w = await makeVmWorld(t, 'upgrades');
    vmid = await createEfiVm(t, w.owner.token, { name: 'upgrades-vm', catalog: w.cid });
  });
  after(() => t.close());

  it('600 upgrades no endpoint takes get a {code, message} error and are closed by the server; nothing stays open', async () => {
    const server = t.app.getHttpServer();
    const baseline = { connections: await connections(server), fds: openFds() };
    const stream = `/v/console/stream?vmid=${vmid}`;
    const cases: Array<{ target: string; headers?: Record<string, string>; status: number; code: string }> = [
      { target: '/anything', status: 404, code: 'NOT_FOUND' },
      { target: `/v/console/stream/?vmid=${vmid}&authkey=${w.owner.token}`, status: 404, code: 'NOT_FOUND' },
      { target: `/v/console/streams?vmid=${vmid}&authkey=${w.owner.token}`, status: 404, code: 'NOT_FOUND' },
      { target: stream, status: 401, code: 'AUTH_REQUIRED' },
      { target: `${stream}&authkey=not-a-key`, status: 401, code: 'AUTH_REQUIRED' },
      { target: stream, headers: { ...HANDSHAKE, authorization: 'Bearer not-a-key' }, status: 401, code: 'AUTH_REQUIRED' },
      // Allowed, but not a WebSocket handshake.
      { target: `${stream}&authkey=${w.owner.token}`, headers: { upgrade: 'websocket', connection: 'Upgrade' }, status: 400, code: 'REQUEST_REJECTED' },
    ];
    const sent = Array.from({ length: 600 }, (_, i) => cases[i % cases.length]);
    const answers = await Promise.all(sent.map((c) => rawUpgrade(port, c.target, c.headers)));
    answers.forEach((answer, i) => {
      const { target, status, code } = sent[i];
      assert.equal(answer.status, status, `${target}: ${JSON.stringify(answer)}`);
      assert.equal(answer.body?.code, code, target);
      assert.equal(typeof answer.body?.message, 'string', target);
      assert.ok(answer.closedByServer, `${target}: the server closed the connection`);
    });
    await eventually(async () => (await connections(server)) === baseline.connections, 'the server to hold no socket of them', 3000);
    if (baseline.fds !== undefined) await eventually(() => openFds()! <= baseline.fds!, `file descriptors back to ${baseline.fds}`, 3000);
    const health = await fetch(`http://127.0.0.1:${port}/health`);
    assert.equal(health.status, 200);
  });

  it('an upgrade whose answer is held up (authorization that never returns) is destroyed after VELOCITY_UPGRADE_TIMEOUT', async () => {
    const server = t.app.getHttpServer();
    const baseline = await connections(server);
    const authorizer = t.app.get(CatalogAuthorizer);
    const authorize = authorizer.authorize;
    authorizer.authorize = () => new Promise(() => undefined); // a database that does not answer
    try {
      const answer = await rawUpgrade(port, `/v/console/stream?vmid=${vmid}&authkey=${w.owner.token}`);
      assert.equal(answer.status, null, 'nothing was answered');
      assert.ok(answer.closedByServer, 'the server destroyed the socket');
      assert.ok(answer.ms >= 900 && answer.ms < 3000, `destroyed after ${answer.ms} ms with a 1 s bound`);
    } finally {
      authorizer.authorize = authorize;
    }
    await eventually(async () => (await connections(server)) === baseline, 'the server to hold no socket of it', 3000);
  });
});

describe('WebSocket sockets at shutdown', () => {
  const dataDir = new ScratchDir('velocity-ws-shutdown-');
  after(() => dataDir.cleanup());

  it('SIGTERM closes an open console socket with 1001 instead of waiting out the drain for it', async () => {
    const password = 'ws-shutdown-root-password';
    // The drain bound is VELOCITY_STOP_TIMEOUT + 5 s: 10 s here.
    const server = await ServerProcess.start(dataDir.path, { VELOCITY_ADMIN_PASSWORD: password, VELOCITY_STOP_TIMEOUT: '5' });
    try {
      const json = async (method: string, path: string, body: unknown, token?: string) => {
        const headers = { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) };
        return (await (await fetch(`${server.url}${path}`, { method, headers, body: JSON.stringify(body) })).json()) as Record<string, any>;
      };
      const token = (await json('POST', '/u/auth', { username: 'root', password })).authkey;
      const me = (await (await fetch(`${server.url}/u/user`, { headers: { authorization: `Bearer ${token}` } })).json()) as { groups: Array<{ gid: string }> };
      const cid = (await json('PUT', '/c', { group: me.groups[0].gid, label: 'shutdown' }, token)).cid;
      const vmid = (await json('PUT', '/v/efi', { name: 'watched', catalog: cid, cpu_count: 1, memory_size_mb: 128 }, token)).vmid;
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/v/console/stream?vmid=${vmid}&authkey=${token}`);
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
      const signalled = Date.now();
      server.signal('SIGTERM');
      assert.equal(await within(closed, 3000, 'the socket to close'), 1001);
      assert.equal(await within(server.ended(), 5000, 'the process to exit'), 0);
      assert.ok(Date.now() - signalled < 5000, `exited ${Date.now() - signalled} ms after SIGTERM`);
    } finally {
      await server.stop();
    }
  });
});

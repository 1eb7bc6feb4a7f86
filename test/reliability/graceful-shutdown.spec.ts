import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ServerProcess } from '../support/server-process';
import { sleep } from '../support/wait';

/**
 * SIGTERM while a request is in flight: the request finishes normally, a request that
 * arrives meanwhile on an open connection gets 503 in the `{code, message}` shape, new
 * connections are refused, and the process exits 0 — no 500 from modules torn down early.
 */

const ROOT_PASSWORD = 'shutdown-test-root-password';

describe('graceful shutdown', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'velocity-shutdown-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('lets the in-flight request finish, answers 503 meanwhile, then stops', async () => {
    // A start takes 400 ms of simulated time: 4 s here, long enough to signal during it.
    const server = await ServerProcess.start(dataDir, { VELOCITY_ADMIN_PASSWORD: ROOT_PASSWORD, VHV_SIM_TIME_SCALE: '10' });
    const { url, port } = server;
    try {
      const json = (method: string, path: string, body: unknown, token?: string) =>
        fetch(`${url}${path}`, {
          method,
          headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
          body: JSON.stringify(body),
        }).then((r) => r.json() as Promise<Record<string, string>>);
      const token = (await json('POST', '/u/auth', { username: 'root', password: ROOT_PASSWORD })).authkey;
      const user = (await (await fetch(`${url}/u/user`, { headers: { authorization: `Bearer ${token}` } })).json()) as { groups: Array<{ gid: string }> };
      const gid = user.groups[0].gid;
      const cid = (await json('PUT', '/c', { group: gid, label: 'shutdown' }, token)).cid;
      const vmid = (await json('PUT', '/v/efi', { name: 'slow', catalog: cid, cpu_count: 1, memory_size_mb: 128 }, token)).vmid;

      // One connection: a slow state change, then (after SIGTERM) a second request pipelined on it.
      const socket = connect(port, '127.0.0.1');
      let received = '';
      socket.on('data', (chunk) => (received += chunk));
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      const body = JSON.stringify({ vmid, state: 'RUNNING' });
      socket.write(
        `POST /v/state HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      await sleep(1000);
      server.signal('SIGTERM');
      await sleep(300);
      socket.write('GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n');
      const refused = await fetch(`${url}/health`).then(
        (r) => `answered ${r.status}`,
        () => 'refused',
      );
      await closed;

      const [first, second] = received.split(/(?=HTTP\/1\.1 )/);
      assert.match(first, /^HTTP\/1\.1 200 /, `the in-flight request finished: ${first}`);
      assert.match(first, /"state":"RUNNING"/);
      assert.match(second ?? '', /^HTTP\/1\.1 503 /, `the request that came meanwhile: ${second}`);
      assert.match(second, /"code":"SERVICE_UNAVAILABLE"/);
      assert.equal(refused, 'refused', 'a new connection is not accepted');
      assert.equal(await server.ended(), 0);
      assert.doesNotMatch(server.log, /not initialised|INTERNAL_ERROR| 500 /, 'no request failed because a module went away first');
    } finally {
      await server.stop();
    }
  });
});

import assert from 'node:assert/strict';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { VmEventStreams } from '../../../src/vms/events/vm-event-streams.service';
import { SseClient } from '../../support/sse-client';
import { TestApp } from '../../support/test-app';
import { eventually, sleep } from '../../support/wait';

/**
 * The heap an open event stream costs: 1,000 streams held open against the server, against
 * the same 1,000 clients holding a bare Node HTTP response open (sockets and the client's
 * objects on both sides, in this one process). The difference is what Velocity adds per stream.
 */

const STREAMS = 1000;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapUsed(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

async function heldOpen(url: string, headers: Record<string, string>, count = STREAMS): Promise<number> {
  const before = heapUsed();
  const clients: SseClient[] = [];
  for (let i = 0; i < count; i++) clients.push(await SseClient.open(url, headers));
  assert.ok(clients.every((c) => c.status === 200));
  const delta = heapUsed() - before;
  for (const client of clients) client.close();
  return delta;
}

describe('memory per open event stream', () => {
  let t: TestApp;
  let port: number;
  let bare: Server;
  let barePort: number;

  before(async () => {
    t = await TestApp.start();
    port = await t.listen();
    bare = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': bare\n\n');
    });
    await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
    barePort = (bare.address() as AddressInfo).port;
  });
  after(async () => {
    bare.closeAllConnections();
    bare.close();
    await t.close();
  });

  it(`${STREAMS} open streams`, async () => {
    const token = await t.loginRoot();
    const bareUrl = `http://127.0.0.1:${barePort}/`;
    const velocityUrl = `http://127.0.0.1:${port}/v/events`;
    const auth = { authorization: `Bearer ${token}` };
    const streams = t.app.get(VmEventStreams);
    // Each round starts once the last one's connections are gone on both sides.
    const settled = async () => {
      await eventually(() => streams.openCount === 0, 'every event stream closed');
      await eventually(async () => (await new Promise<number>((resolve) => bare.getConnections((_e, n) => resolve(n)))) === 0, 'every bare response closed');
      await sleep(300);
    };
    // A first round of each, unmeasured: what is allocated once (code, pools) is not per stream.
    await heldOpen(bareUrl, {}, 200);
    await heldOpen(velocityUrl, auth, 200);
    await settled();
    const baseline = await heldOpen(bareUrl, {});
    await settled();
    const velocity = await heldOpen(velocityUrl, auth);
    await settled();
    const perStream = (velocity - baseline) / STREAMS;
    console.log(`# heap per open event stream: ${(velocity / STREAMS / 1024).toFixed(1)} KiB with both ends' sockets and client objects; ${(baseline / STREAMS / 1024).toFixed(1)} KiB for a bare held-open Node response; Velocity's own share ${(perStream / 1024).toFixed(1)} KiB`);
    assert.ok(perStream < 32 * 1024, `${perStream} bytes per stream`);
  });
});

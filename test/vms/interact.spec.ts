import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { decodePng } from '../support/png';
import { TestApp } from '../support/test-app';
import { createEfiVm, makeVmWorld, setState, VmWorld } from '../support/vm-fixture';
import { sleep } from '../support/wait';

async function until<T>(probe: () => Promise<T | undefined>, what: string, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('console and screenshots (interact)', () => {
  let t: TestApp;
  let w: VmWorld;
  let vmid: string;
  let port: number;

  before(async () => {
    t = await TestApp.start();
    port = await t.listen();
    w = await makeVmWorld(t, 'interact');
    vmid = await createEfiVm(t, w.owner.token, { name: 'console-vm', catalog: w.cid, displays: [{ width: 800, height: 600 }] });
  });
  after(() => t.close());

  it('typing on a stopped VM is refused: nothing reads its console', async () => {
    const reply = await t.call({ method: 'POST', url: '/v/console', token: w.owner.token, body: { vmid, input: 'hello\n' } });
    assert.deepEqual([reply.status, reply.body.code], [409, 'VM_NOT_RUNNING']);
  });

  it('recent output shows the boot banner; typed input is echoed', async () => {
    assert.equal((await setState(t, w.owner.token, vmid, 'RUNNING')).status, 200);
    const banner = await until(async () => {
      const reply = await t.call({ method: 'GET', url: '/v/console', token: w.owner.token, query: { vmid } });
      return reply.body.output.includes('login:') ? reply.body : undefined;
    }, 'the boot banner');
    assert.equal(banner.size, Buffer.byteLength(banner.output));
    const typed = await t.call({ method: 'POST', url: '/v/console', token: w.owner.token, body: { vmid, input: 'echo-marker-42\n' } });
    assert.equal(typed.status, 200);
    await until(async () => {
      const reply = await t.call({ method: 'GET', url: '/v/console', token: w.owner.token, query: { vmid, bytes: '256' } });
      assert.ok(Buffer.byteLength(reply.body.output) <= 256);
      return reply.body.output.includes('echo-marker-42') ? true : undefined;
    }, 'the echo');
  });

  it('the live console streams output and takes input over a WebSocket', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v/console/stream?vmid=${vmid}`, { headers: { authorization: `Bearer ${w.owner.token}` } });
    let received = '';
    ws.on('message', (data: Buffer) => (received += data.toString()));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    try {
      await until(async () => (received.includes('login:') ? true : undefined), 'recent output on connect');
      ws.send('ws-typed-7\n');
      await until(async () => (received.includes('ws-typed-7') ? true : undefined), 'the echo over the socket');
    } finally {
      ws.close();
    }
  });

  it('the WebSocket upgrade is refused without a key, with an unknown VM, and without interact', async () => {
    const attempt = (query: string, headers: Record<string, string> = {}) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/v/console/stream?${query}`, { headers });
        ws.on('unexpected-response', (req, res) => {
          // With this listener, ws leaves the refused response to us: drop it, or its
          // socket keeps the test process alive.
          res.resume();
          req.destroy();
          resolve(res.statusCode ?? 0);
        });
        ws.on('open', () => {
          ws.close();
          resolve(101);
        });
        ws.on('error', () => undefined);
      });
    assert.equal(await attempt(`vmid=${vmid}`), 401);
    assert.equal(await attempt(`vmid=00000000-0000-4000-8000-000000000000&authkey=${w.owner.token}`), 404);
    const viewer = await t.createUser(w.root, 'viewer');
    await t.call({ method: 'POST', url: '/c/share', token: w.owner.token, body: { cid: w.cid, gid: viewer.personalGid, view: true } });
    assert.equal(await attempt(`vmid=${vmid}&authkey=${viewer.token}`), 401);
    const stranger = await t.createUser(w.root, 'ws-stranger');
    assert.equal(await attempt(`vmid=${vmid}&authkey=${stranger.token}`), 404);
    assert.equal(await attempt(`vmid=${vmid}&authkey=${w.owner.token}`), 101, 'the key also works in the query');
  });

  it('a screenshot is a PNG of the display\'s size that is not a blank frame', async () => {
    const reply = await t.app.inject({ method: 'GET', url: `/v/screenshot?vmid=${vmid}`, headers: { authorization: `Bearer ${w.owner.token}` } });
    assert.equal(reply.statusCode, 200, reply.body);
    assert.equal(reply.headers['content-type'], 'image/png');
    const png = decodePng(reply.rawPayload);
    assert.deepEqual([png.width, png.height], [800, 600]);
    assert.ok(png.colours > 8, `the frame has ${png.colours} colours`);
  });

  it('screenshots of a VM without that display, or not running, are refused with 4xx', async () => {
    const noDisplay = await t.call({ method: 'GET', url: '/v/screenshot', token: w.owner.token, query: { vmid, display: '1' } });
    assert.equal(noDisplay.status, 400);
    await setState(t, w.owner.token, vmid, 'STOPPED', true);
    const stopped = await t.call({ method: 'GET', url: '/v/screenshot', token: w.owner.token, query: { vmid } });
    assert.deepEqual([stopped.status, stopped.body.code], [409, 'VM_NOT_RUNNING']);
  });
});

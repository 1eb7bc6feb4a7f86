import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodePng } from '../support/png';
import { rawUpgrade } from '../support/raw-upgrade';
import { describeFigures, measureFullFrames, RfbTestClient, ServerInit } from '../support/rfb-client';
import { TestApp } from '../support/test-app';
import { createEfiVm, makeVmWorld, setState, VmWorld } from '../support/vm-fixture';
import { within } from '../support/wait';

/**
 * The remote screen (`GET /v/rfb`) with the sim driver: a real RFB handshake and real Raw
 * updates through the WebSocket, compared with a screenshot of the same VM; who is refused
 * before any RFB byte; several viewers; the end of the socket when the VM stops.
 */

const WIDTH = 1024;
const HEIGHT = 768;

/** Share of pixels whose red and green agree: the sim's frames differ between captures only in blue, the moving box and the counter. */
function agreement(a: Buffer, b: Buffer): number {
  let same = 0;
  for (let i = 0; i < a.length; i += 3) if (a[i] === b[i] && a[i + 1] === b[i + 1]) same++;
  return same / (a.length / 3);
}

describe('remote screen (GET /v/rfb) with the sim driver', () => {
  let t: TestApp;
  let w: VmWorld;
  let vmid: string;
  let port: number;
  const figures: string[] = [];

  before(async () => {
    t = await TestApp.start();
    port = await t.listen();
    w = await makeVmWorld(t, 'rfb');
    vmid = await createEfiVm(t, w.owner.token, { name: 'rfb-vm', catalog: w.cid, displays: [{ width: WIDTH, height: HEIGHT }] });
  });
  after(async () => {
    await t.close();
    for (const line of figures) console.log(`# ${line}`);
  });

  const url = (id = vmid) => `ws://127.0.0.1:${port}/v/rfb?vmid=${id}`;

  async function screenshot(): Promise<Buffer> {
    const reply = await t.app.inject({ method: 'GET', url: `/v/screenshot?vmid=${vmid}`, headers: { authorization: `Bearer ${w.owner.token}` } });
    assert.equal(reply.statusCode, 200, reply.body);
    return decodePng(reply.rawPayload).rgb;
  }

  it('a VM that is not running is refused with 409 before any RFB byte', async () => {
    const answer = await rawUpgrade(port, `/v/rfb?vmid=${vmid}&authkey=${w.owner.token}`);
    assert.deepEqual([answer.status, answer.body?.code], [409, 'VM_NOT_RUNNING'], answer.data);
    assert.ok(!answer.data.includes('RFB'), 'no RFB byte');
    assert.ok(answer.closedByServer);
  });

  it('the handshake: RFB 003.008, security type None, a 32-bit true-colour frame of the display\'s size', async () => {
    assert.equal((await setState(t, w.owner.token, vmid, 'RUNNING')).status, 200);
    const client = await RfbTestClient.open(url(), w.owner.token);
    try {
      const handshake = await client.handshake();
      assert.equal(handshake.version, 'RFB 003.008\n');
      assert.deepEqual(handshake.securityTypes, [1]);
      assert.equal(handshake.securityResult, 0);
      const { init } = handshake;
      assert.deepEqual([init.width, init.height], [WIDTH, HEIGHT]);
      assert.deepEqual([init.bitsPerPixel, init.depth, init.trueColour], [32, 24, true]);
      assert.equal(init.name, 'rfb-vm');
    } finally {
      client.close();
    }
  });

  it('a full-frame Raw update shows the same picture as a screenshot, in the server\'s pixel format and in the one the client asks for', async () => {
    const client = await RfbTestClient.open(url(), w.owner.token);
    try {
      const { init } = await client.handshake();
      client.rawOnly();
      for (const format of [init, { ...init, shifts: { red: 0, green: 8, blue: 16 } }]) {
        if (format !== init) client.send(setPixelFormat(format)); // noVNC's own format: red in the lowest byte
        client.requestUpdate(format);
        const frame = Buffer.alloc(WIDTH * HEIGHT * 3);
        const update = await client.readUpdate(format, frame);
        assert.equal(update.pixels, WIDTH * HEIGHT, 'the whole frame');
        const share = agreement(frame, await screenshot());
        assert.ok(share > 0.9, `${(share * 100).toFixed(1)} % of the pixels agree with a screenshot`);
      }
    } finally {
      client.close();
    }
  });

  it('several viewers at once each get the frames; each closes when the VM stops', async () => {
    const viewers = await Promise.all([1, 2, 3].map(() => RfbTestClient.open(url(), w.owner.token)));
    let init: ServerInit | undefined;
    for (const viewer of viewers) {
      init = (await viewer.handshake()).init;
      viewer.rawOnly();
      viewer.requestUpdate(init);
      assert.equal((await viewer.readUpdate(init)).pixels, WIDTH * HEIGHT);
    }
    // Incremental requests are answered too (at the sim's frame interval).
    viewers[0].requestUpdate(init!, true);
    assert.equal((await viewers[0].readUpdate(init!)).pixels, WIDTH * HEIGHT);
    assert.equal((await setState(t, w.owner.token, vmid, 'STOPPED', true)).status, 200);
    for (const viewer of viewers) {
      const { code } = await within(viewer.closed, 5000, 'the socket to close when the VM stops');
      assert.equal(code, 1000);
    }
  });

  it('callers without interact, of another group or without a key are refused before any RFB byte', async () => {
    assert.equal((await setState(t, w.owner.token, vmid, 'RUNNING')).status, 200);
    const viewer = await t.createUser(w.root, 'rfb-viewer');
    await t.call({ method: 'POST', url: '/c/share', token: w.owner.token, body: { cid: w.cid, gid: viewer.personalGid, view: true } });
    const stranger = await t.createUser(w.root, 'rfb-stranger');
    const cases = [
      { who: 'no key', query: `vmid=${vmid}`, status: 401, code: 'AUTH_REQUIRED' },
      { who: 'view but no interact', query: `vmid=${vmid}&authkey=${viewer.token}`, status: 401, code: 'PERMISSION_DENIED' },
      { who: 'another group', query: `vmid=${vmid}&authkey=${stranger.token}`, status: 404, code: 'VM_NOT_FOUND' },
      { who: 'an unknown VM', query: `vmid=00000000-0000-4000-8000-000000000000&authkey=${w.owner.token}`, status: 404, code: 'VM_NOT_FOUND' },
    ];
    for (const c of cases) {
      const answer = await rawUpgrade(port, `/v/rfb?${c.query}`);
      assert.deepEqual([answer.status, answer.body?.code], [c.status, c.code], `${c.who}: ${answer.data}`);
      assert.ok(!answer.data.includes('RFB'), `${c.who}: no RFB byte`);
    }
  });

  it('a plain GET (no upgrade) is answered 426 once authorized', async () => {
    const reply = await t.call({ method: 'GET', url: '/v/rfb', token: w.owner.token, query: { vmid } });
    assert.deepEqual([reply.status, reply.body.code], [426, 'UPGRADE_REQUIRED']);
  });

  it('the socket closes with 4401 when its authkey is revoked', async () => {
    const user = await t.createUser(w.root, 'rfb-leaver', [w.gid]);
    const client = await RfbTestClient.open(url(), user.token);
    await client.handshake();
    assert.equal((await t.call({ method: 'DELETE', url: '/u/auth', token: user.token })).status, 200);
    assert.deepEqual(await within(client.closed, 5000, 'the socket to close'), { code: 4401, reason: 'AUTH_REQUIRED' });
  });

  it('the socket closes with 4403 when the share that gave interact is revoked', async () => {
    const sharer = await t.createUser(w.root, 'rfb-sharer');
    const shared = await t.call({ method: 'POST', url: '/c/share', token: w.owner.token, body: { cid: w.cid, gid: sharer.personalGid, view: true, interact: true } });
    assert.equal(shared.status, 200, JSON.stringify(shared.body));
    const client = await RfbTestClient.open(url(), sharer.token);
    await client.handshake();
    const revoked = await t.call({ method: 'DELETE', url: '/c/share', token: w.owner.token, body: { cid: w.cid, gid: sharer.personalGid } });
    assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
    assert.equal((await within(client.closed, 5000, 'the socket to close')).code, 4403);
  });

  it('measures: time to the first frame, and full-frame Raw updates per second', async () => {
    const began = performance.now();
    const client = await RfbTestClient.open(url(), w.owner.token);
    try {
      const { init } = await client.handshake();
      client.rawOnly();
      client.requestUpdate(init);
      await client.readUpdate(init);
      const firstFrameMs = performance.now() - began;
      const figuresOfBridge = await measureFullFrames(client, init, 30);
      figures.push(
        `rfb (sim, ${WIDTH}×${HEIGHT}, 32 bpp Raw): first frame ${firstFrameMs.toFixed(0)} ms after the upgrade request; ${describeFigures(figuresOfBridge)}`,
      );
    } finally {
      client.close();
    }
  });
});

/** SetPixelFormat: 32-bit little-endian true colour with `format`'s shifts. */
function setPixelFormat(format: ServerInit): Buffer {
  const message = Buffer.alloc(20);
  message[0] = 0;
  message[4] = 32;
  message[5] = 24;
  message[6] = 0;
  message[7] = 1;
  message.writeUInt16BE(255, 8);
  message.writeUInt16BE(255, 10);
  message.writeUInt16BE(255, 12);
  message[14] = format.shifts.red;
  message[15] = format.shifts.green;
  message[16] = format.shifts.blue;
  return message;
}

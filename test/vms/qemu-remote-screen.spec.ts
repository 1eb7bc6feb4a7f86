import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Browser, chromium, Page } from 'playwright-core';
import { closeQemuApp, isAlive, ProcessTracker, requireQemu } from '../hypervisor/qemu-fixture';
import { NoVncPage, serveNoVncPage } from '../support/novnc-page';
import { decodePng } from '../support/png';
import { rawUpgrade } from '../support/raw-upgrade';
import { describeFigures, measureFullFrames, RfbTestClient } from '../support/rfb-client';
import { TestApp } from '../support/test-app';
import { createEfiVm, makeVmWorld, setState, VmWorld } from '../support/vm-fixture';
import { eventually, sleep, within } from '../support/wait';

/**
 * The remote screen of a real QEMU EFI VM (TCG): QEMU's own VNC server on the VM's Unix
 * socket, bridged by GET /v/rfb. A raw RFB handshake; noVNC itself, unmodified, in headless
 * Chromium, whose canvas must show what a screendump of the same VM shows; several viewers
 * at once; every socket closed when the VM stops.
 */

// scripts/run-tests.js finds it (scripts/test-requirements.js); the default is Debian's.
const CHROMIUM = process.env.VELOCITY_TEST_CHROMIUM ?? '/usr/bin/chromium';
const QEMU_ENV = { VELOCITY_HYPERVISOR: 'qemu', VELOCITY_QEMU_ACCEL: 'tcg', VELOCITY_STOP_TIMEOUT: '3' };
const WIDTH = 1024;
const HEIGHT = 768;
const BOOT_MS = 120_000;

/** Share of pixels whose channels all lie within `tolerance` of each other's. */
function agreement(a: Buffer, b: Buffer, tolerance = 8): number {
  let same = 0;
  for (let i = 0; i < a.length; i += 3) {
    if (Math.abs(a[i] - b[i]) <= tolerance && Math.abs(a[i + 1] - b[i + 1]) <= tolerance && Math.abs(a[i + 2] - b[i + 2]) <= tolerance) same++;
  }
  return same / (a.length / 3);
}

/** Unix sockets named `path`: the listening one and each connection accepted on it. */
function socketsAt(path: string): number {
  return readFileSync('/proc/net/unix', 'utf8')
    .split('\n')
    .filter((line) => line.endsWith(` ${path}`)).length;
}

/** Pixels that are not black: a firmware screen has text and a logo on black. */
function litPixels(rgb: Buffer): number {
  let lit = 0;
  for (let i = 0; i < rgb.length; i += 3) if (rgb[i] + rgb[i + 1] + rgb[i + 2] > 48) lit++;
  return lit;
}

describe('remote screen (GET /v/rfb) of a QEMU EFI VM, in noVNC', () => {
  const processes = new ProcessTracker();
  let t: TestApp;
  let w: VmWorld;
  let port: number;
  let dataDir: string;
  let vmid: string;
  let browser: Browser;
  let novnc: NoVncPage;
  const figures: string[] = [];

  before(async () => {
    requireQemu();
    t = await TestApp.start({ env: QEMU_ENV });
    port = await t.listen();
    dataDir = t.config.dataDir;
    w = await makeVmWorld(t, 'qemu-rfb');
    vmid = await createEfiVm(t, w.owner.token, { name: 'rfb-efi', catalog: w.cid, memory_size_mb: 128, displays: [{ width: WIDTH, height: HEIGHT }] });
    novnc = await serveNoVncPage();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });

  after(async () => {
    await browser?.close();
    await novnc?.close();
    await closeQemuApp(t, dataDir, processes);
    for (const line of figures) console.log(`# ${line}`);
  });

  const url = () => `ws://127.0.0.1:${port}/v/rfb?vmid=${vmid}`;

  async function screendump(): Promise<{ width: number; height: number; rgb: Buffer }> {
    const reply = await t.app.inject({ method: 'GET', url: `/v/screenshot?vmid=${vmid}`, headers: { authorization: `Bearer ${w.owner.token}` } });
    assert.equal(reply.statusCode, 200, reply.body);
    return decodePng(reply.rawPayload);
  }

  it('boots to the firmware, which drives the display at the requested size', async () => {
    const reply = await setState(t, w.owner.token, vmid, 'RUNNING');
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    processes.track(Number(readFileSync(join(dataDir, 'vms', vmid, 'qemu.pid'), 'utf8').trim()));
    const deadline = Date.now() + BOOT_MS;
    for (;;) {
      const console = await t.call({ method: 'GET', url: '/v/console', token: w.owner.token, query: { vmid, bytes: '1048576' } });
      if (/Shell>/.test(console.body.output)) break;
      if (Date.now() > deadline) assert.fail(`the firmware never reached its shell: ${console.body.output.slice(-400)}`);
      await sleep(500);
    }
    const frame = await screendump();
    assert.deepEqual([frame.width, frame.height], [WIDTH, HEIGHT]);
    assert.ok(existsSync(join(dataDir, 'vms', vmid, 'vnc.sock')), 'the VNC server listens on a Unix socket in the VM directory');
  });

  it('a raw RFB handshake through the WebSocket: RFB 003.008, security type None, the display\'s size', async () => {
    const began = performance.now();
    const client = await RfbTestClient.open(url(), w.owner.token);
    try {
      const { version, securityTypes, securityResult, init } = await client.handshake();
      assert.equal(version, 'RFB 003.008\n');
      assert.ok(securityTypes.includes(1), `security types ${securityTypes}`);
      assert.equal(securityResult, 0);
      assert.deepEqual([init.width, init.height, init.trueColour], [WIDTH, HEIGHT, true]);
      client.rawOnly();
      client.requestUpdate(init);
      const first = Buffer.alloc(WIDTH * HEIGHT * 3);
      const update = await client.readUpdate(init, first);
      const firstFrameMs = performance.now() - began;
      assert.equal(update.pixels, WIDTH * HEIGHT, 'a full frame');
      const share = agreement(first, (await screendump()).rgb);
      assert.ok(share > 0.97, `${(share * 100).toFixed(1)} % of the pixels agree with a screendump`);

      const figuresOfBridge = await measureFullFrames(client, init, 20);
      // The same, straight from QEMU's socket: what the WebSocket bridge costs.
      const direct = await RfbTestClient.direct(join(dataDir, 'vms', vmid, 'vnc.sock'));
      try {
        const directInit = (await direct.handshake()).init;
        direct.rawOnly();
        const figuresOfQemu = await measureFullFrames(direct, directInit, 20);
        figures.push(
          `rfb (qemu, ${WIDTH}×${HEIGHT}, ${init.bitsPerPixel} bpp Raw): first frame ${firstFrameMs.toFixed(0)} ms after the upgrade request; ` +
            `through /v/rfb: ${describeFigures(figuresOfBridge)}; straight from vnc.sock: ${describeFigures(figuresOfQemu)}`,
        );
      } finally {
        direct.close();
      }
    } finally {
      client.close();
    }
  });

  let page: Page;

  it('noVNC in Chromium connects and its canvas shows the firmware\'s screen, as a screendump of the same VM does', async () => {
    page = await browser.newPage();
    await page.goto(novnc.url);
    await page.waitForFunction(() => (globalThis as any).pageReady === true);
    const began = performance.now();
    await page.evaluate((target) => (globalThis as any).openScreen(target), `${url()}&authkey=${w.owner.token}`);
    let canvas: { width: number; height: number; rgb: Buffer } | undefined;
    const deadline = Date.now() + 30_000;
    for (;;) {
      const pixels = await page.evaluate(() => (globalThis as any).screenPixels());
      canvas = { width: pixels.width, height: pixels.height, rgb: Buffer.from(pixels.rgb, 'base64') };
      if (canvas.width === WIDTH && litPixels(canvas.rgb) > 1000) break;
      if (Date.now() > deadline) assert.fail(`noVNC's canvas stayed ${canvas.width}×${canvas.height} with ${litPixels(canvas.rgb)} lit pixels`);
      await sleep(200);
    }
    figures.push(`noVNC: first painted frame ${(performance.now() - began).toFixed(0)} ms after connecting`);
    assert.deepEqual([canvas.width, canvas.height], [WIDTH, HEIGHT]);
    const dump = await screendump();
    const share = agreement(canvas.rgb, dump.rgb);
    assert.ok(share > 0.97, `${(share * 100).toFixed(1)} % of noVNC's pixels agree with a screendump`);
    assert.ok(litPixels(dump.rgb) > 1000, 'the screendump is not blank either');
  });

  it('several viewers at once: noVNC stays connected while two more viewers open, and every socket closes when the VM stops', async () => {
    const others = await Promise.all([1, 2].map(() => RfbTestClient.open(url(), w.owner.token)));
    for (const other of others) {
      const { init } = await other.handshake();
      other.rawOnly();
      other.requestUpdate(init);
      assert.equal((await other.readUpdate(init)).pixels, WIDTH * HEIGHT);
    }
    assert.deepEqual(await page.evaluate(() => (globalThis as any).events), ['connect'], 'noVNC is still connected');
    // Each viewer is one connection to QEMU's socket (plus its listening socket); closing a
    // WebSocket closes its connection.
    const vncSocket = join(dataDir, 'vms', vmid, 'vnc.sock');
    assert.equal(socketsAt(vncSocket), 1 + 3);
    const leaving = await RfbTestClient.open(url(), w.owner.token);
    await eventually(() => socketsAt(vncSocket) === 1 + 4, 'a fourth connection to QEMU');
    leaving.close();
    await eventually(() => socketsAt(vncSocket) === 1 + 3, 'the connection of the closed WebSocket to go', 5000);
    const pid = Number(readFileSync(join(dataDir, 'vms', vmid, 'qemu.pid'), 'utf8').trim());
    assert.equal((await setState(t, w.owner.token, vmid, 'STOPPED', true)).status, 200);
    assert.equal(isAlive(pid), false);
    for (const other of others) assert.equal((await within(other.closed, 5000, 'the socket to close when the VM stops')).code, 1000);
    await page.waitForFunction(() => (globalThis as any).events.length > 1, undefined, { timeout: 5000 });
    assert.deepEqual(await page.evaluate(() => (globalThis as any).events), ['connect', 'disconnect (clean)']);
    const refused = await rawUpgrade(port, `/v/rfb?vmid=${vmid}&authkey=${w.owner.token}`);
    assert.deepEqual([refused.status, refused.body?.code], [409, 'VM_NOT_RUNNING']);
    await page.close();
  });
});

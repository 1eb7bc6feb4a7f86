import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, Browser } from 'playwright-core';
import WebSocket from 'ws';
import { NginxProxy } from '../support/nginx-proxy';
import { json, SseClient } from '../support/sse-client';
import { TestApp } from '../support/test-app';
import { createEfiVm, makeVmWorld, setState } from '../support/vm-fixture';
import { sleep } from '../support/wait';

// scripts/run-tests.js finds it (scripts/test-requirements.js); the default is Debian's.
const CHROMIUM = process.env.VELOCITY_TEST_CHROMIUM ?? '/usr/bin/chromium';

/**
 * The deployment the README describes: Velocity under VELOCITY_BASE_PATH=/velocity behind
 * nginx (a real nginx process), with Swagger UI driven by headless Chromium through the proxy.
 */
describe('behind nginx under /velocity/', () => {
  let t: TestApp;
  let nginx: NginxProxy;
  let browser: Browser;
  let proxy: string;

  before(async () => {
    t = await TestApp.start({ env: { VELOCITY_BASE_PATH: '/velocity', VELOCITY_TRUST_PROXY: '127.0.0.1' } });
    nginx = await NginxProxy.start(await t.listen());
    proxy = nginx.url;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });

  after(async () => {
    await browser?.close();
    nginx?.stop();
    await t.close();
  });

  it('serves the API, health and the OpenAPI document through the proxy', async () => {
    const health = await fetch(`${proxy}/velocity/health`);
    assert.equal(health.status, 200);
    assert.ok(health.headers.get('x-request-id'));
    const doc = (await (await fetch(`${proxy}/velocity/docs-json`)).json()) as any;
    assert.ok(doc.paths['/u/auth']);
    assert.deepEqual(doc.servers, [{ url: '/velocity', description: 'This server, under its base path /velocity' }]);
    const login = await fetch(`${proxy}/velocity/u/auth`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'root', password: 'root-password-for-tests' }),
    });
    assert.equal(login.status, 200);
    const { authkey } = (await login.json()) as { authkey: string };
    const me = await fetch(`${proxy}/velocity/u/user`, { headers: { authorization: `Bearer ${authkey}` } });
    assert.equal(((await me.json()) as { username: string }).username, 'root');
    assert.equal((await fetch(`${proxy}/velocity/nope`)).status, 404);
  });

  it('carries the console WebSocket through the proxy', async () => {
    const w = await makeVmWorld(t, 'proxied');
    const vmid = await createEfiVm(t, w.owner.token, { name: 'proxied-vm', catalog: w.cid });
    await setState(t, w.owner.token, vmid, 'RUNNING');
    const ws = new WebSocket(`${proxy.replace('http', 'ws')}/velocity/v/console/stream?vmid=${vmid}&authkey=${w.owner.token}`);
    let received = '';
    ws.on('message', (d: Buffer) => (received += d.toString()));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const deadline = Date.now() + 5000;
    while (!received.includes('login:') && Date.now() < deadline) await sleep(50);
    ws.close();
    assert.match(received, /login:/);
  });

  it('carries the event stream through the proxy unbuffered: an event arrives promptly', async () => {
    const w = await makeVmWorld(t, 'proxied-events');
    const vmid = await createEfiVm(t, w.owner.token, { name: 'watched-vm', catalog: w.cid });
    const stream = await SseClient.open(`${proxy}/velocity/v/events?cid=${w.cid}`, { authorization: `Bearer ${w.owner.token}` });
    try {
      assert.equal(stream.status, 200);
      assert.match(String(stream.response.headers['content-type']), /^text\/event-stream/);
      const began = performance.now();
      assert.equal((await setState(t, w.owner.token, vmid, 'RUNNING')).status, 200);
      const running = await stream.waitFor((e) => e.event === 'state' && json(e).vmid === vmid && json(e).state === 'RUNNING', 2000, 'RUNNING through nginx');
      // Nothing on the way (buffering, compression) may hold the event back.
      assert.ok(running.receivedAt - began < 1000, `arrived ${(running.receivedAt - began).toFixed(0)} ms after the request`);
    } finally {
      stream.close();
    }
  });

  it('Swagger UI loads through the proxy, lists every operation and runs one', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${proxy}/velocity/docs`);
      await page.waitForSelector('.opblock', { timeout: 20_000 });
      const doc = (await (await fetch(`${proxy}/velocity/docs-json`)).json()) as any;
      const operations = Object.values<any>(doc.paths).reduce((n, item) => n + Object.keys(item).length, 0);
      assert.equal(await page.locator('.opblock').count(), operations);
      // Try GET /health out in the browser, as an operator would.
      const health = page.locator('#operations-health-health');
      await health.locator('.opblock-summary').click();
      await health.getByRole('button', { name: 'Try it out' }).click();
      await health.getByRole('button', { name: 'Execute' }).click();
      const status = health.locator('.live-responses-table tr.response .response-col_status').first();
      await status.waitFor({ timeout: 10_000 });
      assert.equal((await status.textContent())?.trim(), '200');
      await page.screenshot({ path: join(nginx.dir, 'swagger-ui.png'), fullPage: false });
    } finally {
      await page.close();
    }
  });

  it('Swagger UI executes GET /v/console and GET /v/screenshot with their pre-filled values', async () => {
    const world = await makeVmWorld(t, 'swagger');
    const vmid = await createEfiVm(t, world.owner.token, { name: 'on-screen', catalog: world.cid, displays: [{ width: 640, height: 480 }] });
    assert.equal((await setState(t, world.owner.token, vmid, 'RUNNING')).status, 200);
    const page = await browser.newPage();
    try {
      await page.goto(`${proxy}/velocity/docs`);
      await page.locator('button.authorize').first().click();
      const bearer = page.locator('.modal-ux form').filter({ hasText: 'http, Bearer' });
      await bearer.locator('input').fill(world.owner.token);
      await bearer.getByRole('button', { name: 'Apply credentials' }).click();
      await page.locator('.modal-ux button.close-modal').click();
      for (const [operation, answer] of [['getConsoleOutput', '.live-responses-table .response-col_description pre'], ['getScreenshot', '.live-responses-table .response-col_description img']] as const) {
        const block = page.locator(`#operations-virtual_machines-${operation}`);
        await block.locator('.opblock-summary').click();
        await block.getByRole('button', { name: 'Try it out' }).click();
        // Only the VM is ours to name; `bytes` and `display` keep the values Swagger UI put there.
        await block.locator('tr[data-param-name="vmid"] input').fill(vmid);
        await block.getByRole('button', { name: 'Execute' }).click();
        const status = block.locator('.live-responses-table tr.response .response-col_status').first();
        await status.waitFor({ timeout: 10_000 });
        assert.equal((await status.textContent())?.trim(), '200', `${operation} through Swagger UI`);
        // The console's JSON body, the screenshot rendered as an image.
        await block.locator(answer).first().waitFor({ timeout: 5_000 });
        if (operation === 'getConsoleOutput') assert.match((await block.locator(answer).first().textContent()) ?? '', new RegExp(vmid));
      }
    } finally {
      await page.close();
      await setState(t, world.owner.token, vmid, 'STOPPED', true);
    }
  });
});

import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, Browser } from 'playwright-core';
import WebSocket from 'ws';
import { freePort } from '../support/server-process';
import { TestApp } from '../support/test-app';
import { createEfiVm, makeVmWorld, setState } from '../support/vm-fixture';
import { sleep } from '../support/wait';

// scripts/run-tests.js finds them (scripts/test-requirements.js); the defaults are Debian's.
const NGINX = process.env.VELOCITY_TEST_NGINX ?? '/usr/sbin/nginx';
const CHROMIUM = process.env.VELOCITY_TEST_CHROMIUM ?? '/usr/bin/chromium';

async function waitForHttp(url: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if ((await fetch(url)).status < 500) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) assert.fail(`${url} did not come up`);
    await sleep(100);
  }
}

/**
 * The deployment the README describes: Velocity under VELOCITY_BASE_PATH=/velocity behind
 * nginx (a real nginx process), with Swagger UI driven by headless Chromium through the proxy.
 */
describe('behind nginx under /velocity/', () => {
  let t: TestApp;
  let nginx: ChildProcess;
  let browser: Browser;
  let proxy: string;
  let dir: string;

  before(async () => {
    t = await TestApp.start({ env: { VELOCITY_BASE_PATH: '/velocity', VELOCITY_TRUST_PROXY: '127.0.0.1' } });
    const appPort = await t.listen();
    const port = await freePort();
    dir = mkdtempSync(join(tmpdir(), 'velocity-nginx-'));
    mkdirSync(join(dir, 'tmp'));
    writeFileSync(
      join(dir, 'nginx.conf'),
      readFileSync(join(__dirname, '..', '..', '..', 'deploy', 'nginx.conf.example'), 'utf8')
        .replace(/^\s*listen .*$/m, `    listen 127.0.0.1:${port};`)
        .replace(/server 127\.0\.0\.1:8080;/, `server 127.0.0.1:${appPort};`)
        .replace(/^http \{/m, `http {\n  access_log off;\n  client_body_temp_path ${dir}/tmp/body;\n  proxy_temp_path ${dir}/tmp/proxy;\n  fastcgi_temp_path ${dir}/tmp/fastcgi;\n  uwsgi_temp_path ${dir}/tmp/uwsgi;\n  scgi_temp_path ${dir}/tmp/scgi;`)
        .replace(/^# main$/m, `user root;\ndaemon off;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;`),
    );
    nginx = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'inherit' });
    proxy = `http://127.0.0.1:${port}`;
    await waitForHttp(`${proxy}/velocity/health`);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });

  after(async () => {
    await browser?.close();
    nginx?.kill('SIGQUIT');
    await t.close();
    rmSync(dir, { recursive: true, force: true });
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
      await page.screenshot({ path: join(dir, 'swagger-ui.png'), fullPage: false });
    } finally {
      await page.close();
    }
  });
});

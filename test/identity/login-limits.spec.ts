import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ServerProcess } from '../support/server-process';
import { TestApp } from '../support/test-app';
import { sleep } from '../support/wait';

/**
 * Login attempts are limited per client address and per username (429 + Retry-After), and
 * a login flood cannot stall the rest of the API: password hashes run on a thread of their
 * own, a bounded number at a time, never on the thread pool the database uses.
 */

// Documentation addresses (RFC 5737), used only as X-Forwarded-For values from a trusted proxy.
const address = (i: number) => `198.51.100.${i}`;

describe('login limits per client address and per username', () => {
  let t: TestApp;
  before(async () => {
    t = await TestApp.start({ env: { VELOCITY_LOGIN_ATTEMPTS_PER_MINUTE: '3', VELOCITY_TRUST_PROXY: 'true' } });
  });
  after(() => t.close());

  const login = (username: string, password: string, from: string) =>
    t.app.inject({ method: 'POST', url: '/u/auth', headers: { 'x-forwarded-for': from }, payload: { username, password } });

  it('the fourth attempt a minute from one address is a 429 with Retry-After, whatever the username', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await login(`nobody-${i}`, 'wrong-password', address(1))).statusCode, 403);
    const refused = await login('root', 'root-password-for-tests', address(1));
    assert.equal(refused.statusCode, 429);
    assert.equal(refused.json().code, 'RATE_LIMITED');
    const retryAfter = Number(refused.headers['retry-after']);
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${refused.headers['retry-after']}`);
    // Another address is not affected.
    assert.equal((await login('root', 'root-password-for-tests', address(2))).statusCode, 200);
  });

  it('the fourth attempt a minute for one username is a 429, from whatever address', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await login('target', 'wrong-password', address(10 + i))).statusCode, 403);
    const refused = await login('target', 'wrong-password', address(20));
    assert.equal(refused.statusCode, 429);
    assert.match(refused.json().message, /username/);
  });
});

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

describe('a login flood from 64 clients', () => {
  const FLOOD_CLIENTS = 64;
  const FLOOD_MS = 4000;
  const ROOT_PASSWORD = 'flood-test-root-password';
  const dataDir = mkdtempSync(join(tmpdir(), 'velocity-flood-'));
  let server: ServerProcess;
  let url: string;

  before(async () => {
    // Its own process, as `npm start` runs it: the flood must compete with the server's
    // thread pool and event loop, not with the test's.
    server = await ServerProcess.start(dataDir, { VELOCITY_ADMIN_PASSWORD: ROOT_PASSWORD, VELOCITY_TRUST_PROXY: 'true' });
    url = server.url;
  });
  after(async () => {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const login = (username: string, password: string, from: string) =>
    fetch(`${url}/u/auth`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': from },
      body: JSON.stringify({ username, password }),
    });

  async function timedCatalogList(token: string): Promise<number> {
    const started = performance.now();
    const reply = await fetch(`${url}/c/list`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(reply.status, 200);
    await reply.arrayBuffer();
    return performance.now() - started;
  }

  it('leaves authenticated requests fast, and the right password still logs in', async () => {
    const token = ((await (await login('root', ROOT_PASSWORD, address(250))).json()) as { authkey: string }).authkey;
    const quiet: number[] = [];
    for (let i = 0; i < 50; i++) quiet.push(await timedCatalogList(token));

    // Every attacker comes from its own address (so per-address limits alone cannot stop
    // them) and tries names that do not exist (so per-username limits cannot either):
    // what protects the API is that hashing is bounded and off the database's threads.
    const flood = spawn(process.execPath, [join(__dirname, '..', 'support', 'login-flood-client.js'), url, String(FLOOD_CLIENTS), String(FLOOD_MS)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let report = '';
    flood.stdout!.on('data', (chunk: Buffer) => (report += chunk));
    const flooded = new Promise<void>((resolve) => flood.once('exit', () => resolve()));
    const until = Date.now() + FLOOD_MS;
    const during: number[] = [];
    await sleep(500); // let the flood build up
    while (Date.now() < until - 300) during.push(await timedCatalogList(token));

    // The right password, from the operator's own address, during the flood: it may be
    // told to come back (Retry-After) while the hashing queue is full, then it gets in.
    let loggedIn = false;
    for (let attempt = 0; attempt < 20 && !loggedIn; attempt++) {
      const reply = await login('root', ROOT_PASSWORD, address(251));
      if (reply.status === 200) loggedIn = true;
      else {
        assert.equal(reply.status, 429, `a refused login is a 429, not ${reply.status}`);
        await sleep(Number(reply.headers.get('retry-after')) * 1000);
      }
    }
    await flooded;
    const outcomes = JSON.parse(report) as Record<'403' | '429' | 'other', number>;

    const quietP50 = percentile(quiet, 50);
    const floodP50 = percentile(during, 50);
    const floodP95 = percentile(during, 95);
    console.log(
      `# login flood (${FLOOD_CLIENTS} clients, ${FLOOD_MS} ms; ${outcomes[403]} checked and refused, ${outcomes[429]} turned away): ` +
        `GET /c/list p50 ${quietP50.toFixed(1)} ms quiet, ${floodP50.toFixed(1)} ms during (×${(floodP50 / quietP50).toFixed(1)}), p95 ${floodP95.toFixed(1)} ms`,
    );
    assert.equal(outcomes.other, 0, 'every flood attempt was answered 403 or 429');
    assert.ok(loggedIn, 'the right password logged in during the flood');
    // The bounds. Before hashing left the thread pool, every database statement queued behind
    // the flood's hashes: one GET /c/list took 6 s with 16 clients and 15 s with 64. Now one
    // core hashes and the event loop answers the other 64 connections with cheap 429s, so a
    // request waits about one turn of them: a few ms typically; the tail bounds (50 ms p50,
    // 500 ms p95) leave room for a loaded 2-core machine and are still 10x under the stall.
    assert.ok(floodP50 < 50, `GET /c/list p50 during the flood: ${floodP50.toFixed(1)} ms`);
    assert.ok(floodP95 < 500, `GET /c/list p95 during the flood: ${floodP95.toFixed(1)} ms`);
  });
});

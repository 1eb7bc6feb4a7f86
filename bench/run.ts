/*
 * npm run bench — request throughput of Velocity's main paths against a bare Fastify
 * server measured in the same run, so the figures are ratios that mean something on any
 * machine. Everything runs on loopback; each scenario sends a fixed number of requests.
 */
import 'reflect-metadata';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { NestFactory } from '@nestjs/core';
import Fastify from 'fastify';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppModule } from '../src/app.module';
import { configureApp, createFastifyAdapter } from '../src/app.setup';
import { loadConfig } from '../src/config/app-config';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 3000);
const CONCURRENCY = 16;
const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });

interface Call {
  method: string;
  path: string;
  token?: string;
  body?: unknown;
}

function send(port: number, call: Call): Promise<number> {
  return new Promise((resolve, reject) => {
    const payload = call.body === undefined ? undefined : JSON.stringify(call.body);
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: call.method,
        path: call.path,
        agent,
        headers: {
          ...(call.token ? { authorization: `Bearer ${call.token}` } : {}),
          ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** Requests per second for `REQUESTS` calls made by `CONCURRENCY` workers. */
async function measure(port: number, next: (i: number) => Call, expect: (status: number) => boolean): Promise<number> {
  let issued = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (issued < REQUESTS) {
        const i = issued++;
        const status = await send(port, next(i));
        if (!expect(status)) throw new Error(`unexpected status ${status} for ${JSON.stringify(next(i))}`);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return REQUESTS / seconds;
}

async function json(port: number, call: Call): Promise<any> {
  return new Promise((resolve, reject) => {
    const payload = call.body === undefined ? undefined : JSON.stringify(call.body);
    const req = request(
      { host: '127.0.0.1', port, method: call.method, path: call.path, agent, headers: { ...(call.token ? { authorization: `Bearer ${call.token}` } : {}), ...(payload ? { 'content-type': 'application/json' } : {}) } },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve(JSON.parse(Buffer.concat(parts).toString())));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

async function main(): Promise<void> {
  process.env.VHV_SIM_TIME_SCALE = '0';
  const dataDir = mkdtempSync(join(tmpdir(), 'velocity-bench-'));
  const bare = Fastify();
  bare.get('/ping', async () => ({ status: 'ok' }));
  await bare.listen({ port: 0, host: '127.0.0.1' });
  const barePort = (bare.server.address() as AddressInfo).port;

  const config = loadConfig({ VELOCITY_DATA_DIR: dataDir, VELOCITY_ADMIN_PASSWORD: 'bench-password', VELOCITY_HYPERVISOR: 'sim' });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), createFastifyAdapter(config), { logger: ['error'] });
  configureApp(app, config);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.getHttpServer().address() as AddressInfo).port;

  try {
    const { authkey: root } = await json(port, { method: 'POST', path: '/u/auth', body: { username: 'root', password: 'bench-password' } });
    const groups = await json(port, { method: 'GET', path: '/u/group/list', token: root });
    const rootGid = groups.groups.find((g: { special: string }) => g.special === 'root').gid;
    const catalogs: string[] = [];
    for (let i = 0; i < 200; i++) catalogs.push((await json(port, { method: 'PUT', path: '/c', token: root, body: { group: rootGid, label: `bench ${i}` } })).cid);
    const vmids: string[] = [];
    for (let i = 0; i < CONCURRENCY; i++) {
      vmids.push((await json(port, { method: 'PUT', path: '/v/efi', token: root, body: { name: `bench-${i}`, catalog: catalogs[0], cpu_count: 1, memory_size_mb: 256 } })).vmid);
    }

    const ok = (s: number) => s === 200;
    // Warm up both servers (JIT, connection pool).
    await measure(barePort, () => ({ method: 'GET', path: '/ping' }), ok);
    await measure(port, () => ({ method: 'GET', path: '/health' }), ok);

    const baseline = await measure(barePort, () => ({ method: 'GET', path: '/ping' }), ok);
    const scenarios: Array<[string, () => Promise<number>]> = [
      ['GET /health (Nest pipeline, no auth)', () => measure(port, () => ({ method: 'GET', path: '/health' }), ok)],
      ['GET /u/user (authkey lookup)', () => measure(port, () => ({ method: 'GET', path: '/u/user', token: root }), ok)],
      ['GET /c/list (200 catalogs, page of 50)', () => measure(port, () => ({ method: 'GET', path: '/c/list?limit=50', token: root }), ok)],
      ['GET /c/share (permission guard)', () => measure(port, (i) => ({ method: 'GET', path: `/c/share?cid=${catalogs[i % catalogs.length]}`, token: root }), ok)],
      ['GET /v/state (vmid guard)', () => measure(port, (i) => ({ method: 'GET', path: `/v/state?vmid=${vmids[i % vmids.length]}`, token: root }), ok)],
      [
        'POST /v/state RUNNING/STOPPED (sim, no delay)',
        () =>
          measure(
            port,
            (i) => ({ method: 'POST', path: '/v/state', token: root, body: { vmid: vmids[i % vmids.length], state: Math.floor(i / vmids.length) % 2 ? 'STOPPED' : 'RUNNING', force: true } }),
            (s) => s === 200 || s === 208,
          ),
      ],
    ];
    console.log(`Velocity benchmark: ${REQUESTS} requests per scenario, ${CONCURRENCY} concurrent, loopback`);
    console.log(`baseline: bare Fastify GET /ping = ${baseline.toFixed(0)} req/s (ratio 1.00)`);
    for (const [name, run] of scenarios) {
      const rate = await run();
      console.log(`${name.padEnd(48)} ${rate.toFixed(0).padStart(7)} req/s   ratio ${(rate / baseline).toFixed(2)}`);
    }
  } finally {
    await app.close();
    await bare.close();
    agent.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

void main().catch((error) => {
  console.error(error);
  process.exit(1);
});

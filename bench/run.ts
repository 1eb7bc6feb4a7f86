/*
 * npm run bench — Velocity's main paths under load, against a bare Fastify process measured
 * in the same run, so the figures are ratios that mean something on any machine.
 *
 * Four processes: this one (the load, with autocannon, and the fixture, seeded through the
 * API), a Velocity server (`node dist/src/main.js`, sim driver at zero delay, its log going to
 * a file as it would to a journal) and the bare Fastify baseline (bench/bare-server.ts); a
 * bare Nest application (bench/bare-nest-server.ts) shows what the framework costs by itself.
 *
 * The fixture is the issue's: 10,000 VMs in 1,000 catalogs owned by 100 groups, each catalog
 * shared with the next group. BENCH_SCALE shrinks it for quick runs (0.1: 1,000 VMs in 100
 * catalogs, 10 groups); BENCH_SECONDS is each scenario's duration (default 10),
 * BENCH_CONNECTIONS the connections (default 50); BENCH_ONLY runs only the scenarios whose
 * name contains it, BENCH_SERVER_NODE_ARGS adds Node options to the server (for profiling one
 * path: `BENCH_ONLY='GET /v by' BENCH_SERVER_NODE_ARGS=--cpu-prof`). It prints a table and ends with the goals, PASS
 * or FAIL per line. It is a benchmark, not a test: it exits 0 whatever the figures.
 *
 * Then, where PostgreSQL is installed (BENCH_POSTGRES=0 leaves it out), the same fixture and
 * scenarios on one node whose database is a private PostgreSQL server, beside the SQLite
 * figures, and POST /v/state sent to a second node that forwards it to the VMs' node.
 */
import autocannon from 'autocannon';
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { postgresBinDir, startPostgresServer } from '../test/support/postgres';

const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const ONLY = process.env.BENCH_ONLY;
const SEED_CLIENTS = 16;
const VM_COUNT = Math.round(10_000 * SCALE);
const CATALOG_COUNT = Math.max(2, Math.round(1_000 * SCALE));
const GROUP_COUNT = Math.max(2, Math.round(100 * SCALE));
const ADMIN_PASSWORD = 'bench-password';
const ROOT_DIR = join(__dirname, '..', '..');

interface Call {
  method: string;
  path: string;
  token?: string;
  body?: unknown;
}

/** One call to `base`; the parsed JSON body, or throws with the status and body. */
async function call(base: string, { method, path, token, body }: Call): Promise<any> {
  const response = await fetch(base + path, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/** Runs `work(i)` for i in [0, count) with `clients` concurrent workers; returns the seconds it took. */
async function inParallel(count: number, clients: number, work: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < count) await work(next++);
    }),
  );
  return (performance.now() - started) / 1000;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A Velocity server process on `dataDir`; resolves once /ready answers, with the time that took. */
async function startVelocity(dataDir: string, port: number, env: Record<string, string> = {}): Promise<{ child: ChildProcess; readyMs: number }> {
  const log = openSync(join(dataDir, 'server.log'), 'a');
  const started = performance.now();
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, join(ROOT_DIR, 'dist', 'src', 'main.js')], {
    env: {
      ...process.env,
      VELOCITY_DATA_DIR: dataDir,
      VELOCITY_ADMIN_PASSWORD: ADMIN_PASSWORD,
      VELOCITY_HYPERVISOR: 'sim',
      VELOCITY_PORT: String(port),
      VELOCITY_HOST: '127.0.0.1',
      VELOCITY_LOGIN_ATTEMPTS_PER_MINUTE: '100000',
      VHV_SIM_TIME_SCALE: '0',
      ...env,
    },
    stdio: ['ignore', log, log],
  });
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the Velocity server exited with ${child.exitCode}; see ${join(dataDir, 'server.log')}`);
    const ready = await fetch(`http://127.0.0.1:${port}/ready`).then((r) => r.ok, () => false);
    if (ready) return { child, readyMs: performance.now() - started };
    await delay(10);
  }
}

/** A reference server (bench/bare-server.ts, bench/bare-nest-server.ts); resolves with the port it printed. */
async function startBare(script: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [join(__dirname, script)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  return { child, port };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** Resident set size of a process in MiB (Linux /proc; `ps` elsewhere). */
async function rssMiB(pid: number): Promise<number> {
  const out = await new Promise<string>((resolve) => {
    const ps = spawn('ps', ['-o', 'rss=', '-p', String(pid)]);
    let text = '';
    ps.stdout.on('data', (d: Buffer) => (text += d.toString()));
    ps.on('close', () => resolve(text));
  });
  return Number(out.trim()) / 1024;
}

interface Load {
  rate: number;
  p50: number;
  p99: number;
  errors: number;
}

/**
 * autocannon against `base` for SECONDS at CONNECTIONS, each request built by `next` (so the
 * load walks over many VMs or catalogs). A 2-second warm-up run comes first. Any answer
 * outside `ok` counts as an error.
 */
async function load(base: string, next: () => Call, ok: (status: number) => boolean = (s) => s === 200): Promise<Load> {
  const run = async (duration: number): Promise<Load> => {
    let errors = 0;
    const result = await autocannon({
      url: base,
      connections: CONNECTIONS,
      duration,
      requests: [
        {
          setupRequest: (request: any) => {
            const c = next();
            return {
              ...request,
              method: c.method,
              path: c.path,
              headers: { ...(c.token ? { authorization: `Bearer ${c.token}` } : {}), ...(c.body === undefined ? {} : { 'content-type': 'application/json' }) },
              body: c.body === undefined ? undefined : JSON.stringify(c.body),
            };
          },
          onResponse: (status: number) => {
            if (!ok(status)) errors++;
          },
        },
      ],
    });
    errors += result.errors + result.timeouts;
    return { rate: result.requests.total / duration, p50: result.latency.p50, p99: result.latency.p99, errors };
  };
  await run(2);
  return run(SECONDS);
}

/** Walks over `items` in order, round and round. */
function cycle<T>(items: T[]): () => T {
  let i = 0;
  return () => items[i++ % items.length];
}

interface Fixture {
  root: string;
  holder: string;
  /** VMs the holder sees through a share (view, state, manage). */
  sharedVmids: string[];
  sharedCids: string[];
  allVmids: string[];
  seedSeconds: number;
}

/** Groups, catalogs (owner: group i % G; shared with group (i+1) % G), VMs, and one share-holding user. */
async function seed(base: string): Promise<Fixture> {
  const root = (await call(base, { method: 'POST', path: '/u/auth', body: { username: 'root', password: ADMIN_PASSWORD } })).authkey;
  const gids: string[] = [];
  await inParallel(GROUP_COUNT, SEED_CLIENTS, async (i) => {
    gids[i] = (await call(base, { method: 'PUT', path: '/u/group', token: root, body: { groupname: `bench-group-${i}` } })).gid;
  });
  const holderPassword = 'bench-holder-password';
  await call(base, { method: 'PUT', path: '/u/user', token: root, body: { username: 'holder', password: holderPassword, groups: [gids[0]] } });
  const holder = (await call(base, { method: 'POST', path: '/u/auth', body: { username: 'holder', password: holderPassword } })).authkey;

  const cids: string[] = [];
  await inParallel(CATALOG_COUNT, SEED_CLIENTS, async (i) => {
    const cid = (await call(base, { method: 'PUT', path: '/c', token: root, body: { group: gids[i % GROUP_COUNT], label: `bench catalog ${i}` } })).cid;
    cids[i] = cid;
    const flags = { view: true, state: true, manage: true };
    await call(base, { method: 'POST', path: '/c/share', token: root, body: { cid, gid: gids[(i + 1) % GROUP_COUNT], ...flags } });
  });

  const vmids: string[] = [];
  const seedSeconds = await inParallel(VM_COUNT, SEED_CLIENTS, async (i) => {
    const body = { name: `bench-vm-${i}`, catalog: cids[i % CATALOG_COUNT], cpu_count: 1, memory_size_mb: 256 };
    vmids[i] = (await call(base, { method: 'PUT', path: '/v/efi', token: root, body })).vmid;
  });
  // Catalog i is shared with group (i+1) % G, so group 0 (the holder's) holds shares on the
  // catalogs owned by the last group.
  const sharedCids = cids.filter((_, i) => (i + 1) % GROUP_COUNT === 0);
  const shared = new Set(sharedCids);
  const sharedVmids = vmids.filter((_, i) => shared.has(cids[i % CATALOG_COUNT]));
  return { root, holder, sharedVmids, sharedCids, allVmids: vmids, seedSeconds };
}

interface Row {
  name: string;
  load: Load;
}

/** One Velocity server's figures: the fixture seeded through the API, a cold start, then every scenario. */
interface Measurement {
  rows: Row[];
  baseline: number;
  baselineBefore: Load;
  baselineAfter: Load;
  createRate: number;
  seedSeconds: number;
  coldStartMs: number;
  rss: number;
}

/**
 * Seeds a Velocity server on `dataDir` (with `env`: the database, the node), restarts it
 * cold and runs the scenarios between two runs of the bare baseline. `more` runs before the
 * server stops, with the fixture (the cluster's forwarded scenario).
 */
async function measure(dataDir: string, env: Record<string, string>, bareBase: string, more?: (base: string, fixture: Fixture, rows: Row[]) => Promise<void>): Promise<Measurement> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let velocity = await startVelocity(dataDir, port, env);
  try {
    const fixture = await seed(base);
    const createRate = VM_COUNT / fixture.seedSeconds;
    console.log(`seeded through the API: PUT /v/efi ${createRate.toFixed(0)} VMs/s at ${SEED_CLIENTS} clients (${VM_COUNT} in ${fixture.seedSeconds.toFixed(1)} s)`);

    // A cold start on the seeded database: the server stops and starts again.
    await stop(velocity.child);
    velocity = await startVelocity(dataDir, port, env);
    const coldStartMs = velocity.readyMs;
    console.log(`cold start to /ready with ${VM_COUNT} VMs: ${coldStartMs.toFixed(0)} ms`);
    // Authkeys survive the restart (they are stored).

    const { root, holder } = fixture;
    const sharedVm = cycle(fixture.sharedVmids);
    const sharedCatalog = cycle(fixture.sharedCids);
    const anyVm = cycle(fixture.allVmids);

    const baselineBefore = await load(bareBase, () => ({ method: 'GET', path: '/ping' }));
    const rows: Row[] = [];
    const scenario = async (name: string, next: () => Call, ok?: (status: number) => boolean) => {
      if (ONLY && !name.includes(ONLY)) return;
      rows.push({ name, load: await load(base, next, ok) });
    };
    await scenario('GET /health (no auth)', () => ({ method: 'GET', path: '/health' }));
    await scenario('GET /v/state by a share-holder', () => ({ method: 'GET', path: `/v/state?vmid=${sharedVm()}`, token: holder }));
    await scenario('GET /v/state by root', () => ({ method: 'GET', path: `/v/state?vmid=${anyVm()}`, token: root }));
    await scenario('GET /v by a share-holder', () => ({ method: 'GET', path: `/v?vmid=${sharedVm()}`, token: holder }));
    await scenario('GET /c/share by a share-holder (manage)', () => ({ method: 'GET', path: `/c/share?cid=${sharedCatalog()}`, token: holder }));
    await scenario('GET /c/list?limit=50 by a share-holder', () => ({ method: 'GET', path: '/c/list?limit=50', token: holder }));
    await scenario('GET /v/list?limit=50 by a share-holder', () => ({ method: 'GET', path: `/v/list?limit=50&cid=${sharedCatalog()}`, token: holder }));
    if (!ONLY || STATE_SCENARIO.includes(ONLY)) rows.push({ name: STATE_SCENARIO, load: await load(base, stateChanges(fixture, root), STATE_CHANGED) });
    await more?.(base, fixture, rows);
    const baselineAfter = await load(bareBase, () => ({ method: 'GET', path: '/ping' }));
    const rss = await rssMiB(velocity.child.pid!);
    const baseline = (baselineBefore.rate + baselineAfter.rate) / 2;
    return { rows, baseline, baselineBefore, baselineAfter, createRate, seedSeconds: fixture.seedSeconds, coldStartMs, rss };
  } finally {
    await stop(velocity.child);
  }
}

const STATE_SCENARIO = 'POST /v/state RUNNING<->STOPPED by root';
const STATE_CHANGED = (status: number) => status === 200 || status === 208;

/** Requests that alternate each of (at most) a thousand VMs between RUNNING and STOPPED, so no two requests wait on one VM. */
function stateChanges(fixture: Fixture, token: string): () => Call {
  const vmids = fixture.allVmids.slice(0, Math.min(1000, fixture.allVmids.length));
  let calls = 0;
  return () => {
    const i = calls++;
    const state = Math.floor(i / vmids.length) % 2 ? 'STOPPED' : 'RUNNING';
    return { method: 'POST', path: '/v/state', token, body: { vmid: vmids[i % vmids.length], state, force: true } };
  };
}

async function main(): Promise<void> {
  const bare = await startBare('bare-server.js');
  const bareNest = await startBare('bare-nest-server.js');
  const bareBase = `http://127.0.0.1:${bare.port}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'velocity-bench-'));
  try {
    console.log(`Velocity benchmark: ${VM_COUNT} VMs in ${CATALOG_COUNT} catalogs, ${GROUP_COUNT} groups (BENCH_SCALE=${SCALE}); ` + `${CONNECTIONS} connections, ${SECONDS} s per scenario after a 2 s warm-up; sim driver at zero delay`);
    console.log('\n## One server on SQLite (the default)');
    const nestAlone = await load(`http://127.0.0.1:${bareNest.port}`, () => ({ method: 'GET', path: '/ping' }));
    const sqlite = await measure(dataDir, {}, bareBase);
    const { rows, baseline, createRate, seedSeconds, coldStartMs, rss } = sqlite;

    const table = [
      header(),
      line(`bare Fastify GET /ping (before)`, sqlite.baselineBefore, baseline),
      line(`bare Fastify GET /ping (after)`, sqlite.baselineAfter, baseline),
      line(`bare Nest on Fastify GET /ping (reference)`, nestAlone, baseline),
      ...rows.map((r) => line(r.name, r.load, baseline)),
    ];
    console.log(`\n${table.join('\n')}`);
    console.log(`baseline = mean of the two bare runs = ${baseline.toFixed(0)} req/s; Velocity RSS after the run: ${rss.toFixed(0)} MiB`);

    const health = rows.find((r) => r.name.startsWith('GET /health'));
    if (health) console.log(`GET /health is ${(health.load.rate / nestAlone.rate).toFixed(2)}x the bare Nest route (what Velocity adds to Nest)`);
    if (ONLY) {
      console.log(`\nGoals not judged: BENCH_ONLY=${ONLY} ran part of the scenarios.`);
    } else {
      const by = (name: string) => rows.find((r) => r.name.startsWith(name))!.load;
      const ratio = (name: string) => by(name).rate / baseline;
      const goals: Array<[string, boolean]> = [
        [`GET /v/state by a share-holder >= 0.5x (${ratio('GET /v/state by a share-holder').toFixed(2)})`, ratio('GET /v/state by a share-holder') >= 0.5],
        [`GET /v/state by a share-holder p99 < 20 ms (${by('GET /v/state by a share-holder').p99} ms)`, by('GET /v/state by a share-holder').p99 < 20],
        [`GET /v >= 0.35x (${ratio('GET /v by').toFixed(2)})`, ratio('GET /v by') >= 0.35],
        [`GET /c/share >= 0.35x (${ratio('GET /c/share').toFixed(2)})`, ratio('GET /c/share') >= 0.35],
        [`GET /c/list?limit=50 >= 0.25x (${ratio('GET /c/list').toFixed(2)})`, ratio('GET /c/list') >= 0.25],
        [`GET /c/list?limit=50 p99 < 30 ms (${by('GET /c/list').p99} ms)`, by('GET /c/list').p99 < 30],
        [`GET /v/list?limit=50 >= 0.25x (${ratio('GET /v/list').toFixed(2)})`, ratio('GET /v/list') >= 0.25],
        [`GET /v/list?limit=50 p99 < 30 ms (${by('GET /v/list').p99} ms)`, by('GET /v/list').p99 < 30],
        [`GET /health >= 0.7x (${ratio('GET /health').toFixed(2)})`, ratio('GET /health') >= 0.7],
        [`PUT /v/efi >= 500 VMs/s at ${SEED_CLIENTS} clients (${createRate.toFixed(0)})`, createRate >= 500],
        [`fixture seeded in < 30 s (${seedSeconds.toFixed(1)} s for ${VM_COUNT} VMs)`, seedSeconds < 30 * SCALE],
        [`POST /v/state RUNNING<->STOPPED >= 0.1x (${ratio('POST /v/state').toFixed(2)})`, ratio('POST /v/state') >= 0.1],
        [`cold start to /ready < 2 s (${(coldStartMs / 1000).toFixed(2)} s)`, coldStartMs < 2000],
        [`server RSS < 300 MiB (${rss.toFixed(0)} MiB)`, rss < 300],
        [`no errors in any scenario (${rows.reduce((n, r) => n + r.load.errors, 0)})`, rows.every((r) => r.load.errors === 0)],
      ];
      console.log(`\nGoals (issue #11; at BENCH_SCALE=${SCALE}${SCALE === 1 ? '' : ', NOT the full fixture'}):`);
      for (const [text, pass] of goals) console.log(`${pass ? 'PASS' : 'FAIL'}  ${text}`);
    }
    await comparePostgres(sqlite, bareBase);
  } finally {
    await stop(bare.child);
    await stop(bareNest.child);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * The same scenarios on one node whose database is PostgreSQL (a private server with its
 * default durability: every commit flushed), beside the SQLite figures; then a second node on
 * that database, through which POST /v/state is forwarded to the first (the VMs' node).
 * Left out with BENCH_POSTGRES=0, or where PostgreSQL is not installed.
 */
async function comparePostgres(sqlite: Measurement, bareBase: string): Promise<void> {
  if (process.env.BENCH_POSTGRES === '0') return;
  if (!postgresBinDir()) return console.log('\nPostgreSQL is not installed: the cluster figures are left out (apt-get install postgresql).');
  console.log('\n## One node on PostgreSQL, and a request forwarded between two nodes');
  const server = startPostgresServer({ durable: true });
  const dirs = [mkdtempSync(join(tmpdir(), 'velocity-bench-pg-a-')), mkdtempSync(join(tmpdir(), 'velocity-bench-pg-b-'))];
  try {
    const databaseUrl = server.url;
    const nodeEnv = (name: string) => ({ VELOCITY_DATABASE_URL: databaseUrl, VELOCITY_NODE_NAME: name });
    const forwarded = async (_base: string, fixture: Fixture, rows: Row[]) => {
      if (ONLY && !STATE_SCENARIO.includes(ONLY)) return;
      const port = await freePort();
      const second = await startVelocity(dirs[1], port, nodeEnv('bench-b'));
      try {
        rows.push({ name: `${STATE_SCENARIO}, forwarded`, load: await load(`http://127.0.0.1:${port}`, stateChanges(fixture, fixture.root), STATE_CHANGED) });
      } finally {
        await stop(second.child);
      }
    };
    const pg = await measure(dirs[0], nodeEnv('bench-a'), bareBase, forwarded);
    const table = [
      `${'scenario'.padEnd(52)} ${'SQLite'.padStart(8)} ${'ratio'.padStart(6)} ${'PG'.padStart(8)} ${'ratio'.padStart(6)} ${'PG p99'.padStart(7)}`,
      ...pg.rows.map((r) => {
        const local = sqlite.rows.find((s) => s.name === r.name);
        const sqliteCells = local ? `${local.load.rate.toFixed(0).padStart(8)} ${(local.load.rate / sqlite.baseline).toFixed(2).padStart(6)}` : `${'-'.padStart(8)} ${'-'.padStart(6)}`;
        return `${r.name.padEnd(52)} ${sqliteCells} ${r.load.rate.toFixed(0).padStart(8)} ${(r.load.rate / pg.baseline).toFixed(2).padStart(6)} ${String(r.load.p99).padStart(7)}`;
      }),
    ];
    console.log(`\n${table.join('\n')}`);
    console.log(`baselines: SQLite part ${sqlite.baseline.toFixed(0)} req/s, PostgreSQL part ${pg.baseline.toFixed(0)} req/s`);
    console.log(`seeding: SQLite ${sqlite.createRate.toFixed(0)} VMs/s, PostgreSQL ${pg.createRate.toFixed(0)} VMs/s; cold start: SQLite ${sqlite.coldStartMs.toFixed(0)} ms, PostgreSQL ${pg.coldStartMs.toFixed(0)} ms`);
    const local = pg.rows.find((r) => r.name === STATE_SCENARIO);
    const hop = pg.rows.find((r) => r.name === `${STATE_SCENARIO}, forwarded`);
    if (local && hop) console.log(`POST /v/state forwarded through a second node: ${(hop.load.rate / local.load.rate).toFixed(2)}x the same request sent to the VM's node (p99 ${hop.load.p99} vs ${local.load.p99} ms)`);
  } finally {
    server.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}

function header(): string {
  return `${'scenario'.padEnd(44)} ${'req/s'.padStart(8)} ${'ratio'.padStart(6)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'errors'.padStart(7)}`;
}

function line(name: string, l: Load, baseline: number): string {
  return `${name.padEnd(44)} ${l.rate.toFixed(0).padStart(8)} ${(l.rate / baseline).toFixed(2).padStart(6)} ${String(l.p50).padStart(7)} ${String(l.p99).padStart(7)} ${String(l.errors).padStart(7)}`;
}

void main().catch((error) => {
  console.error(error);
  process.exit(1);
});

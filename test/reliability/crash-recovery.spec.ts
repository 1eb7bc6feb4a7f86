import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import sqlite3 from 'sqlite3';

/**
 * kill -9 under a concurrent write load, several rounds at random moments: after each
 * restart every acknowledged write is there, the database passes `PRAGMA integrity_check`,
 * and no file is left that no row names. The server runs as `npm start` runs it, in its
 * own process, with the sim driver.
 */

const MAIN = join(__dirname, '..', '..', 'src', 'main.js');
const ROOT_PASSWORD = 'crash-recovery-root-password';
const ROUNDS = 3;
const WRITERS = 6;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

class Server {
  private child?: ChildProcess;
  private exited?: Promise<void>;

  constructor(
    readonly dataDir: string,
    readonly port: number,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.child = spawn(process.execPath, [MAIN], {
      env: {
        ...process.env,
        VELOCITY_DATA_DIR: this.dataDir,
        VELOCITY_PORT: String(this.port),
        VELOCITY_HYPERVISOR: 'sim',
        VELOCITY_ADMIN_PASSWORD: ROOT_PASSWORD,
        VHV_SIM_TIME_SCALE: '0.05',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const child = this.child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}`);
      const ready = await fetch(`${this.url}/ready`).then((r) => r.ok, () => false);
      if (ready) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('the server did not become ready in 30 s');
  }

  async kill(signal: NodeJS.Signals): Promise<void> {
    this.child?.kill(signal);
    await this.exited;
  }
}

interface Acknowledged {
  groups: string[];
  storage: string[];
  vms: string[];
}

async function call(server: Server, token: string | undefined, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  let payload: string | Buffer | undefined;
  if (Buffer.isBuffer(body)) {
    headers['content-type'] = 'application/octet-stream';
    payload = body;
  } else if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const response = await fetch(`${server.url}${path}`, { method, headers, body: payload });
  return { status: response.status, body: (await response.json().catch(() => ({}))) as Record<string, unknown> };
}

/** One writer: creates groups, blank images, uploads and VMs until the server dies; records what was acknowledged. */
async function writer(server: Server, token: string, gid: string, cid: string, id: string, acknowledged: Acknowledged): Promise<void> {
  for (let i = 0; ; i++) {
    const name = `w${id}-${i}-${Math.random().toString(36).slice(2, 8)}`;
    try {
      switch (i % 4) {
        case 0: {
          const reply = await call(server, token, 'PUT', '/u/group', { groupname: name });
          if (reply.status === 200) acknowledged.groups.push(reply.body.gid as string);
          break;
        }
        case 1: {
          const reply = await call(server, token, 'PUT', '/r/storage', { group: gid, name, size_mb: 4 });
          if (reply.status === 200) acknowledged.storage.push(reply.body.stid as string);
          break;
        }
        case 2: {
          const reply = await call(server, token, 'POST', `/r/storage/upload?group=${gid}&name=${name}&format=raw`, Buffer.alloc(256 * 1024, i));
          if (reply.status === 200) acknowledged.storage.push(reply.body.stid as string);
          break;
        }
        case 3: {
          const disk = await call(server, token, 'PUT', '/r/storage', { group: gid, name: `${name}-disk`, size_mb: 1 });
          if (disk.status !== 200) break;
          acknowledged.storage.push(disk.body.stid as string);
          const reply = await call(server, token, 'PUT', '/v/efi', { name, catalog: cid, cpu_count: 1, memory_size_mb: 128, storage_devices: [disk.body.stid] });
          if (reply.status === 200) acknowledged.vms.push(reply.body.vmid as string);
          break;
        }
      }
    } catch {
      return; // the connection went with the server
    }
  }
}

function query<T>(path: string, sql: string): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(path, sqlite3.OPEN_READONLY, (error) => {
      if (error) return reject(error);
      db.all(sql, (err, rows) => {
        db.close();
        if (err) reject(err);
        else resolve(rows as T[]);
      });
    });
  });
}

describe('kill -9 under a concurrent write load', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'velocity-crash-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it(`${ROUNDS} rounds: every acknowledged write survives, the database is intact, no orphan files`, async () => {
    const server = new Server(dataDir, await freePort());
    const acknowledged: Acknowledged = { groups: [], storage: [], vms: [] };
    await server.start();
    const token = (await call(server, undefined, 'POST', '/u/auth', { username: 'root', password: ROOT_PASSWORD })).body.authkey as string;
    const gid = ((await call(server, token, 'GET', '/u/user')).body.groups as Array<{ gid: string }>)[0].gid;
    const cid = (await call(server, token, 'PUT', '/c', { group: gid, label: 'crash' })).body.cid as string;
    for (let round = 1; round <= ROUNDS; round++) {
      const load = Array.from({ length: WRITERS }, (_, w) => writer(server, token, gid, cid, `${round}.${w}`, acknowledged));
      await new Promise((r) => setTimeout(r, 300 + Math.random() * 1200));
      await server.kill('SIGKILL');
      await Promise.all(load);
      await server.start();
      for (const stid of acknowledged.storage) {
        assert.equal((await call(server, token, 'GET', `/r/storage?stid=${stid}`)).status, 200, `round ${round}: storage ${stid} was acknowledged`);
      }
      for (const vmid of acknowledged.vms) {
        assert.equal((await call(server, token, 'GET', `/v?vmid=${vmid}`)).status, 200, `round ${round}: VM ${vmid} was acknowledged`);
      }
      const groups = new Set(((await call(server, token, 'GET', '/u/group/list')).body.groups as Array<{ gid: string }>).map((g) => g.gid));
      for (const g of acknowledged.groups) assert.ok(groups.has(g), `round ${round}: group ${g} was acknowledged`);
    }
    await server.kill('SIGTERM');
    const database = join(dataDir, 'velocity.sqlite');
    assert.deepEqual(await query(database, 'PRAGMA integrity_check'), [{ integrity_check: 'ok' }]);
    const images = await query<{ stid: string; format: string }>(database, 'SELECT stid, format FROM storage');
    const expected = images.map((i) => `${i.stid}.${i.format === 'iso' ? 'iso' : 'img'}`).sort();
    assert.deepEqual(readdirSync(join(dataDir, 'storage')).sort(), expected, 'every image file has a row and every row its file');
    const vms = (await query<{ vmid: string }>(database, 'SELECT vmid FROM vms')).map((v) => v.vmid).sort();
    assert.deepEqual(readdirSync(join(dataDir, 'vms')).sort(), vms, 'every VM directory has a row and every row its directory');
    const total = acknowledged.groups.length + acknowledged.storage.length + acknowledged.vms.length;
    assert.ok(total > ROUNDS * WRITERS, `the load wrote something each round (${total} acknowledged writes)`);
  });
});

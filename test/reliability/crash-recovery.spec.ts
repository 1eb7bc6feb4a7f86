import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import sqlite3 from 'sqlite3';
import { ServerProcess } from '../support/server-process';
import { sleep } from '../support/wait';

/**
 * kill -9 under a concurrent write load, several rounds at random moments: after each
 * restart every acknowledged write is there, the database passes `PRAGMA integrity_check`,
 * and no file is left that no row names.
 */

const ROOT_PASSWORD = 'crash-recovery-root-password';
const ROUNDS = 3;
const WRITERS = 6;

interface Acknowledged {
  groups: string[];
  storage: string[];
  vms: string[];
}

async function call(server: ServerProcess, token: string | undefined, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
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
async function writer(server: ServerProcess, token: string, gid: string, cid: string, id: string, acknowledged: Acknowledged): Promise<void> {
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
    const server = await ServerProcess.start(dataDir, { VELOCITY_ADMIN_PASSWORD: ROOT_PASSWORD, VHV_SIM_TIME_SCALE: '0.05' });
    const acknowledged: Acknowledged = { groups: [], storage: [], vms: [] };
    const token = (await call(server, undefined, 'POST', '/u/auth', { username: 'root', password: ROOT_PASSWORD })).body.authkey as string;
    const gid = ((await call(server, token, 'GET', '/u/user')).body.groups as Array<{ gid: string }>)[0].gid;
    const cid = (await call(server, token, 'PUT', '/c', { group: gid, label: 'crash' })).body.cid as string;
    for (let round = 1; round <= ROUNDS; round++) {
      const load = Array.from({ length: WRITERS }, (_, w) => writer(server, token, gid, cid, `${round}.${w}`, acknowledged));
      await sleep(300 + Math.random() * 1200);
      await server.stop('SIGKILL');
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
    assert.equal(await server.stop('SIGTERM'), 0);
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

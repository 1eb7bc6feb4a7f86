import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { TestApp } from '../support/test-app';

const MiB = 1024 * 1024;

/** Streams `size` bytes of a repeating pattern, generated chunk by chunk (never all in memory). */
function patternStream(size: number): Readable {
  let sent = 0;
  const chunk = Buffer.alloc(MiB, 0xa5);
  return new Readable({
    read() {
      if (sent >= size) return void this.push(null);
      const n = Math.min(chunk.length, size - sent);
      sent += n;
      this.push(n === chunk.length ? chunk : chunk.subarray(0, n));
    },
  });
}

/** A real HTTP upload to a listening port: inject() would buffer the whole body. */
function upload(port: number, token: string, query: string, body: Readable, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method: 'POST', path: `/r/storage/upload?${query}`, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', ...headers } },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(parts).toString() || '{}') }));
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => {
      // The server may answer 413 and close while we are still sending.
      if (error.code === 'EPIPE' || error.code === 'ECONNRESET') return;
      reject(error);
    });
    body.pipe(req);
  });
}

describe('storage images', () => {
  let t: TestApp;
  let port: number;
  let owner: { uid: string; token: string; personalGid: string };
  let storageDir: string;

  before(async () => {
    t = await TestApp.start({ env: { VELOCITY_UPLOAD_LIMIT_MB: '1100' } });
    port = await t.listen();
    owner = await t.createUser(await t.loginRoot(), 'uploader');
    storageDir = join(t.config.dataDir, 'storage');
  });
  after(() => t.close());

  it('a blank image is sparse: full virtual size, (almost) no blocks', async () => {
    const reply = await t.call({ method: 'PUT', url: '/r/storage', token: owner.token, body: { group: owner.personalGid, name: 'blank', size_mb: 10240 } });
    assert.equal(reply.status, 200);
    assert.equal(reply.body.size_bytes, 10240 * MiB);
    const file = statSync(join(storageDir, `${reply.body.stid}.img`));
    assert.equal(file.size, 10240 * MiB);
    assert.ok(file.blocks * 512 < MiB, `allocated ${file.blocks * 512} bytes`);
  });

  it('a 1 GiB upload streams to disk with the server\'s memory far below the file size', async () => {
    const size = 1024 * MiB;
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    let reply;
    try {
      reply = await upload(port, owner.token, `group=${owner.personalGid}&name=big.img`, patternStream(size), { 'content-length': String(size) });
    } finally {
      clearInterval(sampler);
    }
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.equal(reply.body.size_bytes, size);
    assert.equal(statSync(join(storageDir, `${reply.body.stid}.img`)).size, size);
    const growth = peak - baseline;
    // Client and server share this process, so this bounds both together.
    assert.ok(growth < 128 * MiB, `RSS grew ${(growth / MiB).toFixed(0)} MiB during a 1024 MiB upload`);
    console.log(`# 1 GiB upload: RSS grew ${(growth / MiB).toFixed(1)} MiB (${((growth / size) * 100).toFixed(1)}% of the file)`);
  });

  it('an over-limit upload is refused and leaves no file behind', async () => {
    const before = readdirSync(storageDir).sort();
    const rows = await t.count('storage');
    // Declared too large: refused before a byte is written.
    const declared = await upload(port, owner.token, `group=${owner.personalGid}&name=huge.img`, patternStream(MiB), { 'content-length': String(1200 * MiB) });
    assert.equal(declared.status, 413);
    assert.equal(declared.body.code, 'BODY_TOO_LARGE');
    // Chunked, no length: refused when the running count passes the limit.
    const chunked = await upload(port, owner.token, `group=${owner.personalGid}&name=huge.img`, patternStream(1150 * MiB));
    assert.equal(chunked.status, 413);
    assert.deepEqual(readdirSync(storageDir).sort(), before);
    assert.equal(await t.count('storage'), rows);
  });

  it('path-traversal and path-like names are refused; files are named by id only', async () => {
    for (const name of ['../../etc/passwd', '..', '.hidden', 'a/b', 'nul\u0000byte', '/abs']) {
      const reply = await t.call({ method: 'PUT', url: '/r/storage', token: owner.token, body: { group: owner.personalGid, name, size_mb: 1 } });
      assert.equal(reply.status, 400, name);
      const up = await t.call({
        method: 'POST',
        url: '/r/storage/upload',
        token: owner.token,
        query: { group: owner.personalGid, name },
        headers: { 'content-type': 'application/octet-stream' },
        payload: Buffer.from('x'),
      });
      assert.equal(up.status, 400, name);
    }
    assert.ok(readdirSync(storageDir).every((f) => /^[0-9a-f-]{36}\.(img|iso)$/.test(f)));
    assert.equal(existsSync(join(t.config.dataDir, '..', 'passwd')), false);
  });

  it('uploads need the octet-stream content type and a non-empty body', async () => {
    const json = await t.call({ method: 'POST', url: '/r/storage/upload', token: owner.token, query: { group: owner.personalGid, name: 'x.img' }, body: { data: 'x' } });
    assert.equal(json.status, 400);
    const empty = await t.call({
      method: 'POST',
      url: '/r/storage/upload',
      token: owner.token,
      query: { group: owner.personalGid, name: 'empty.img' },
      headers: { 'content-type': 'application/octet-stream' },
      payload: Buffer.alloc(0),
    });
    assert.equal(empty.status, 400);
  });

  it('list, read and delete', async () => {
    const made = await t.call({ method: 'PUT', url: '/r/storage', token: owner.token, body: { group: owner.personalGid, name: 'to-delete', size_mb: 1 } });
    const stid = made.body.stid;
    const list = await t.call({ method: 'GET', url: '/r/storage/list', token: owner.token, query: { limit: '100' } });
    assert.ok(list.body.storage.some((s: { stid: string }) => s.stid === stid));
    const one = await t.call({ method: 'GET', url: '/r/storage', token: owner.token, query: { stid } });
    assert.equal(one.body.name, 'to-delete');
    const del = await t.call({ method: 'DELETE', url: '/r/storage', token: owner.token, body: { stid } });
    assert.equal(del.status, 200);
    assert.equal(existsSync(join(storageDir, `${stid}.img`)), false);
    assert.equal((await t.call({ method: 'GET', url: '/r/storage', token: owner.token, query: { stid } })).status, 404);
  });

  it('FILEHANDLE NICs are created per group; NAT cannot be deleted', async () => {
    const made = await t.call({ method: 'PUT', url: '/r/nic', token: owner.token, body: { group: owner.personalGid, description: 'vmnet' } });
    assert.equal(made.status, 200);
    assert.equal(made.body.type, 'FILEHANDLE');
    assert.ok(made.body.socket.startsWith(join(t.config.dataDir, 'nics')));
    const list = await t.call({ method: 'GET', url: '/r/nic/list', token: owner.token });
    const nat = list.body.nics.find((n: { type: string }) => n.type === 'NAT');
    const natDelete = await t.call({ method: 'DELETE', url: '/r/nic', token: owner.token, body: { nicid: nat.nicid } });
    assert.deepEqual([natDelete.status, natDelete.body.code], [409, 'NIC_NOT_REMOVABLE']);
    assert.equal((await t.call({ method: 'DELETE', url: '/r/nic', token: owner.token, body: { nicid: made.body.nicid } })).status, 200);
  });
});

describe('files a crash leaves behind', () => {
  it('are made to match the rows at the next start: completed, or removed and logged', async () => {
    const first = await TestApp.start();
    const dataDir = first.config.dataDir;
    const root = await first.loginRoot();
    const gid = (await first.call({ method: 'GET', url: '/u/user', token: root })).body.groups[0].gid;
    const made = async (name: string) => (await first.call({ method: 'PUT', url: '/r/storage', token: root, body: { group: gid, name, size_mb: 1 } })).body.stid as string;
    const [kept, cutOff] = [await made('kept'), await made('rename-cut-off')];
    await first.close({ keepData: true });
    const { mkdirSync, renameSync, writeFileSync, rmSync } = await import('node:fs');
    const storage = join(dataDir, 'storage');
    // Committed, but the crash came before the partial file got its final name.
    renameSync(join(storage, `${cutOff}.img`), join(storage, `.${cutOff}.part`));
    // Never committed: a partial file, an old-style partial upload, a complete file without a row.
    const orphans = [
      join(storage, '.00000000-0000-4000-8000-000000000001.part'),
      join(storage, '.upload-00000000-0000-4000-8000-000000000002.part'),
      join(storage, '00000000-0000-4000-8000-000000000003.img'),
    ];
    for (const path of orphans) writeFileSync(path, Buffer.alloc(1024));
    const orphanVmDir = join(dataDir, 'vms', '00000000-0000-4000-8000-000000000004');
    mkdirSync(orphanVmDir, { recursive: true });
    writeFileSync(join(orphanVmDir, 'console.log'), 'left behind');
    const second = await TestApp.start({ dataDir });
    try {
      assert.deepEqual(readdirSync(storage).sort(), [`${cutOff}.img`, `${kept}.img`].sort());
      assert.equal(statSync(join(storage, `${cutOff}.img`)).size, MiB);
      assert.equal(existsSync(orphanVmDir), false);
      const token = await second.loginRoot();
      assert.equal((await second.call({ method: 'GET', url: '/r/storage', token, query: { stid: cutOff } })).status, 200);
    } finally {
      await second.close({ keepData: true });
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('a blank image larger than the filesystem takes', () => {
  let t: TestApp;
  before(async () => {
    t = await TestApp.start();
  });
  after(() => t.close());

  it('is a 422 naming the real limit, and leaves no file and no row', async () => {
    const root = await t.loginRoot();
    const gid = (await t.call({ method: 'GET', url: '/u/user', token: root })).body.groups[0].gid;
    // The DTO's own maximum: 16 TiB, one block more than ext4 takes with 4 KiB blocks.
    const reply = await t.call({ method: 'PUT', url: '/r/storage', token: root, body: { group: gid, name: 'huge', size_mb: 16 * 1024 * 1024 } });
    if (reply.status === 200) {
      // A filesystem that takes 16 TiB files (XFS, btrfs): then the image must be there and sparse.
      assert.ok(statSync(join(t.config.dataDir, 'storage', `${reply.body.stid}.img`)).blocks < 1024);
      return;
    }
    assert.equal(reply.status, 422, JSON.stringify(reply.body));
    assert.equal(reply.body.code, 'HOST_LIMIT_EXCEEDED');
    assert.match(reply.body.message, /the filesystem takes files of at most \d+ MiB/);
    const limitMb = Number(/at most (\d+) MiB/.exec(reply.body.message)![1]);
    assert.ok(limitMb > 1024 && limitMb < 16 * 1024 * 1024, `a real limit, not a guess: ${limitMb}`);
    assert.deepEqual(readdirSync(join(t.config.dataDir, 'storage')), []);
    assert.equal(await t.count('storage'), 0);
    // The limit it named is taken.
    const fits = await t.call({ method: 'PUT', url: '/r/storage', token: root, body: { group: gid, name: 'largest', size_mb: limitMb } });
    assert.equal(fits.status, 200, JSON.stringify(fits.body));
  });
});

describe('NIC ids across restarts', () => {
  it('bridgeable host interfaces keep their ids across a restart', async () => {
    const first = await TestApp.start();
    const dataDir = first.config.dataDir;
    const root = await first.loginRoot();
    const before = (await first.call({ method: 'GET', url: '/r/nic/list', token: root })).body.nics;
    await first.close({ keepData: true });
    const second = await TestApp.start({ dataDir });
    try {
      const after = (await second.call({ method: 'GET', url: '/r/nic/list', token: await second.loginRoot() })).body.nics;
      assert.deepEqual(after.map((n: { nicid: string }) => n.nicid).sort(), before.map((n: { nicid: string }) => n.nicid).sort());
      assert.equal(after.filter((n: { type: string }) => n.type === 'NAT').length, 1);
    } finally {
      await second.close({ keepData: true });
      const { rmSync } = await import('node:fs');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

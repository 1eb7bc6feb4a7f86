import assert from 'node:assert/strict';
import { statfsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { allocatedBytes, hashRange, writeDataAt } from '../support/image-files';
import { TestApp } from '../support/test-app';
import { createDisk } from '../support/vm-fixture';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** Filesystems that cannot share blocks between files, by statfs type (Linux magic numbers). */
const WITHOUT_COPY_ON_WRITE: Record<number, string> = { 0xef53: 'ext2/3/4', 0x01021994: 'tmpfs' };

/**
 * The clone fallback where the filesystem cannot share blocks (ext4 here, the ordinary
 * temporary directory): a copy of the data ranges only, found with lseek(SEEK_DATA/SEEK_HOLE),
 * so holes stay holes. Linux only (scripts/test-requirements.js): macOS's APFS always clones.
 */
describe('cloning where the filesystem cannot share blocks: a sparse copy', () => {
  let t: TestApp;
  let token: string;
  let gid: string;
  let storageDir: string;

  before(async () => {
    t = await TestApp.start();
    const type = statfsSync(t.config.dataDir).type;
    assert.ok(WITHOUT_COPY_ON_WRITE[type], `this test needs its data directory on ext4 or tmpfs (set TMPDIR); ${t.config.dataDir} is on filesystem type 0x${type.toString(16)}`);
    token = await t.loginRoot();
    gid = (await t.call({ method: 'GET', url: '/u/user', token })).body.groups[0].gid;
    storageDir = join(t.config.dataDir, 'storage');
  });
  after(() => t.close());

  /** Clones `stid`, timing the request; the clone's path. */
  async function timedClone(stid: string, name: string): Promise<{ body: any; path: string; ms: number }> {
    const started = process.hrtime.bigint();
    const reply = await t.call({ method: 'POST', url: '/r/storage/clone', token, body: { stid, group: gid, name } });
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return { body: reply.body, path: join(storageDir, `${reply.body.stid}.img`), ms };
  }

  it('a 64 GiB blank image with 1 MiB written clones in well under a second, as sparse as its source', async () => {
    const source = await createDisk(t, token, gid, 'big blank', 64 * 1024);
    const sourcePath = join(storageDir, `${source}.img`);
    // Two data ranges far apart, and one at the very end: holes before, between and after.
    const written: Array<[offset: number, bytes: number]> = [
      [0, 256 * 1024],
      [37 * GiB + 4096, 512 * 1024],
      [64 * GiB - 256 * 1024, 256 * 1024],
    ];
    for (const [offset, bytes] of written) await writeDataAt(sourcePath, offset, bytes);

    const { body, path, ms } = await timedClone(source, 'big copy');
    assert.equal(body.cow, false);
    assert.equal(body.size_bytes, 64 * GiB);
    assert.ok(ms < 1000, `the clone took ${ms.toFixed(0)} ms`);
    const [sourceBlocks, cloneBlocks] = [await allocatedBytes(sourcePath), await allocatedBytes(path)];
    assert.ok(Math.abs(cloneBlocks - sourceBlocks) <= 64 * 1024, `allocated: source ${sourceBlocks}, clone ${cloneBlocks} bytes`);
    assert.ok(cloneBlocks < 2 * MiB, `the clone allocates ${cloneBlocks} bytes`);
    for (const [offset, bytes] of written) assert.equal(await hashRange(path, offset, bytes), await hashRange(sourcePath, offset, bytes), `data at ${offset}`);
    // A hole stays zeros, including the bytes around a range that did not start on a block.
    assert.equal(await hashRange(path, 37 * GiB - MiB, MiB + 4096), await hashRange(sourcePath, 37 * GiB - MiB, MiB + 4096));
    console.log(`# sparse clone of a 64 GiB image with 1 MiB written: ${ms.toFixed(0)} ms, ${(cloneBlocks / MiB).toFixed(2)} MiB allocated`);
  });

  it('figures: a 1 GiB image with 100 MiB written', async () => {
    const source = await createDisk(t, token, gid, 'gigabyte', 1024);
    const sourcePath = join(storageDir, `${source}.img`);
    await writeDataAt(sourcePath, 0, 50 * MiB);
    await writeDataAt(sourcePath, 600 * MiB, 50 * MiB);
    const { body, path, ms } = await timedClone(source, 'gigabyte copy');
    assert.equal(body.cow, false);
    const allocated = await allocatedBytes(path);
    assert.ok(Math.abs(allocated - 100 * MiB) < MiB, `allocated ${allocated} bytes`);
    for (const offset of [0, 600 * MiB]) assert.equal(await hashRange(path, offset, 50 * MiB), await hashRange(sourcePath, offset, 50 * MiB));
    assert.equal(await hashRange(path, 50 * MiB, MiB), await hashRange(sourcePath, 50 * MiB, MiB), 'a hole reads as zeros in both');
    console.log(`# sparse clone of a 1 GiB image with 100 MiB written: ${ms.toFixed(0)} ms, ${(allocated / MiB).toFixed(1)} MiB allocated`);
  });
});

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { allocatedBytes, hashRange, writeDataAt } from '../support/image-files';
import { LogCapture } from '../support/log-capture';
import { Reply, TestApp } from '../support/test-app';
import { createDisk } from '../support/vm-fixture';

const MiB = 1024 * 1024;

/**
 * Clones on filesystems mounted for the test (root; Linux; btrfs-progs — see
 * scripts/test-requirements.js): a loop-mounted btrfs, where a clone shares the source's
 * blocks, and small tmpfs mounts, where a sparse copy or an upload runs out of space halfway
 * (507 HOST_STORAGE_FULL).
 */

/** A server whose data directory is on a filesystem mounted for the test: root's token and personal group. */
interface MountedServer {
  t: TestApp;
  token: string;
  gid: string;
  storageDir: string;
}

/**
 * Registers hooks that mount a filesystem (`mount <args> <mount point>`, the arguments made
 * in a fresh temporary directory) and start a server with its data directory on it, then
 * stop the server, unmount and remove everything. Returns the server, once started.
 */
function serverOnMount(mountArgs: (scratch: string) => string[]): () => MountedServer {
  let scratch: string | undefined;
  let mounted = false;
  let server: MountedServer | undefined;
  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'velocity-mount-'));
    const mountPoint = join(scratch, 'mnt');
    mkdirSync(mountPoint);
    execFileSync('mount', [...mountArgs(scratch), mountPoint]);
    mounted = true;
    const t = await TestApp.start({ dataDir: join(mountPoint, 'data') });
    const token = await t.loginRoot();
    const gid = (await t.call({ method: 'GET', url: '/u/user', token })).body.groups[0].gid;
    server = { t, token, gid, storageDir: join(t.config.dataDir, 'storage') };
  });
  after(async () => {
    await server?.t.close();
    if (mounted) execFileSync('umount', [join(scratch!, 'mnt')]);
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });
  return () => server!;
}

describe('cloning on btrfs: copy-on-write', () => {
  const server = serverOnMount((scratch) => {
    const image = join(scratch, 'btrfs.img');
    execFileSync('truncate', ['-s', '300M', image]);
    execFileSync(process.env.VELOCITY_TEST_MKFS_BTRFS ?? 'mkfs.btrfs', ['-q', image], { stdio: 'ignore' });
    return ['-o', 'loop', image];
  });

  it('a clone of a 1 GiB image with 100 MiB written shares every block with its source', async () => {
    const { t, token, gid, storageDir } = server();
    const source = await createDisk(t, token, gid, 'golden', 1024);
    const sourcePath = join(storageDir, `${source}.img`);
    await writeDataAt(sourcePath, 0, 50 * MiB);
    await writeDataAt(sourcePath, 600 * MiB, 50 * MiB);
    execFileSync('sync');
    const usedBefore = usedBytes(storageDir);

    const started = process.hrtime.bigint();
    const reply = await t.call({ method: 'POST', url: '/r/storage/clone', token, body: { stid: source, group: gid, name: 'golden clone' } });
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.deepEqual([reply.body.cow, reply.body.size_bytes], [true, 1024 * MiB]);
    const clonePath = join(storageDir, `${reply.body.stid}.img`);

    // `btrfs filesystem du`: Total, Exclusive, Set shared, Filename. The clone owns no block of its own.
    const [total, exclusive, shared] = execFileSync('btrfs', ['filesystem', 'du', '--raw', clonePath], { encoding: 'utf8' })
      .trim()
      .split('\n')[1]
      .trim()
      .split(/\s+/)
      .map(Number);
    assert.deepEqual([total, exclusive, shared], [100 * MiB, 0, 100 * MiB]);
    assert.match(execFileSync('filefrag', ['-v', clonePath], { encoding: 'utf8' }), /\bshared\b/);
    for (const offset of [0, 600 * MiB]) assert.equal(await hashRange(clonePath, offset, 50 * MiB), await hashRange(sourcePath, offset, 50 * MiB));
    execFileSync('sync');
    const added = usedBytes(storageDir) - usedBefore;
    assert.ok(added < 10 * MiB, `the filesystem grew by ${added} bytes for the clone`);
    console.log(
      `# copy-on-write clone (btrfs) of a 1 GiB image with 100 MiB written: ${ms.toFixed(0)} ms; ` +
        `${((await allocatedBytes(clonePath)) / MiB).toFixed(1)} MiB allocated to the file, ${exclusive} bytes its own, ` +
        `filesystem use +${(added / MiB).toFixed(2)} MiB`,
    );
  });
});

/**
 * Sends a request that runs the filesystem out of space halfway through writing an image:
 * it must answer 507, log why, and leave no file, no row and no space taken.
 */
async function assertOutOfSpaceLeavesNothing({ t, storageDir }: MountedServer, send: () => Promise<Reply>): Promise<void> {
  const files = readdirSync(storageDir);
  const rows = await t.count('storage');
  const freeBefore = statfsSync(storageDir).bavail;
  const log = LogCapture.start();
  let reply: Reply;
  try {
    reply = await send();
  } finally {
    log.stop();
  }
  assert.deepEqual([reply.status, reply.body.code], [507, 'HOST_STORAGE_FULL'], JSON.stringify(reply.body));
  assert.ok(log.containing('ENOSPC').length > 0, 'the write failed for want of space, not before it began, and the operator learns why');
  assert.deepEqual(readdirSync(storageDir), files);
  assert.equal(await t.count('storage'), rows);
  assert.equal(statfsSync(storageDir).bavail, freeBefore);
}

describe('a clone that runs out of space halfway', () => {
  const server = serverOnMount(() => ['-t', 'tmpfs', '-o', 'size=48m', 'velocity-test']);

  it('answers 507, leaves no file and no row, and gives the space back', async () => {
    const { t, token, gid, storageDir } = server();
    const source = await createDisk(t, token, gid, 'too big to copy', 256);
    await writeDataAt(join(storageDir, `${source}.img`), 0, 30 * MiB);
    await assertOutOfSpaceLeavesNothing(server(), () => t.call({ method: 'POST', url: '/r/storage/clone', token, body: { stid: source, group: gid, name: 'no room' } }));
  });
});

describe('an upload that runs out of space halfway', () => {
  const server = serverOnMount(() => ['-t', 'tmpfs', '-o', 'size=16m', 'velocity-test']);

  it('answers 507, leaves no file and no row, and gives the space back', async () => {
    const { t, token, gid } = server();
    await assertOutOfSpaceLeavesNothing(server(), () =>
      t.call({
        method: 'POST',
        url: '/r/storage/upload',
        token,
        query: { group: gid, name: 'too big' },
        headers: { 'content-type': 'application/octet-stream' },
        payload: Buffer.alloc(32 * MiB, 1),
      }),
    );
  });
});

function usedBytes(path: string): number {
  const fs = statfsSync(path);
  return (fs.blocks - fs.bfree) * fs.bsize;
}

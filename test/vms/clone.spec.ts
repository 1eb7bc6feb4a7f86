import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hashRange, writeDataAt } from '../support/image-files';
import { TestApp } from '../support/test-app';
import { createDisk, createEfiVm, makeVmWorld, setState, VmWorld } from '../support/vm-fixture';

const MiB = 1024 * 1024;
const ALL_FLAGS = { view: true, create: true, alter: true, remove: true, state: true, interact: true, manage: true };
const NO_FLAGS = { view: false, create: false, alter: false, remove: false, state: false, interact: false, manage: false };

/**
 * POST /v/clone: what a clone of a VM carries over, the two catalogs it needs rights on, and
 * that every refusal or failure leaves no VM row, no storage row and no file. (The /v
 * authorization matrix covers the same-catalog cases; a qemu clone that boots and answers on
 * its forwarded port is in the guest-network tests.)
 */
describe('cloning a VM', () => {
  let t: TestApp;
  let world: VmWorld;
  /** A second catalog, of another group, owned by `other`. */
  let other: { token: string; gid: string; cid: string };

  before(async () => {
    t = await TestApp.start();
    world = await makeVmWorld(t, 'vmclone');
    const gid = await t.createGroup(world.root, 'other-team');
    const user = await t.createUser(world.root, 'other-owner', [gid]);
    const catalog = await t.call({ method: 'PUT', url: '/c', token: world.root, body: { group: gid, label: 'other catalog' } });
    assert.equal(catalog.status, 200);
    other = { token: user.token, gid, cid: catalog.body.cid };
  });
  after(() => t.close());

  const clone = (token: string, body: Record<string, unknown>) => t.call({ method: 'POST', url: '/v/clone', token, body });
  const storageDir = () => join(t.config.dataDir, 'storage');

  /** Every VM, attachment and storage row and every file under the data directory. */
  async function snapshot(): Promise<string> {
    const rows: Record<string, unknown> = {};
    for (const table of ['vms', 'vm_storage', 'vm_nics', 'storage']) rows[table] = await t.dataSource.query(`SELECT * FROM "${table}" ORDER BY 1, 2`);
    const files = Object.fromEntries(['vms', 'storage'].map((dir) => [dir, readdirSync(join(t.config.dataDir, dir)).sort()]));
    return JSON.stringify({ rows, files });
  }

  /** A stopped VM with a written writable disk, a template disk and the NAT NIC. */
  async function goldenVm(name: string): Promise<{ vmid: string; disk: string; template: string }> {
    const disk = await createDisk(t, world.owner.token, world.gid, `${name}-root`, 16);
    await writeDataAt(join(storageDir(), `${disk}.img`), 3 * MiB, 2 * MiB);
    const template = await createDisk(t, world.owner.token, world.gid, `${name}-base`, 4);
    const marked = await t.call({ method: 'PATCH', url: '/r/storage', token: world.owner.token, body: { stid: template, template: true } });
    assert.equal(marked.status, 200, JSON.stringify(marked.body));
    const vmid = await createEfiVm(t, world.owner.token, {
      name,
      catalog: world.cid,
      cpu_count: 2,
      memory_size_mb: 512,
      displays: [{ width: 800, height: 600 }],
      storage_devices: [disk, template],
      nics: [world.natNic],
    });
    return { vmid, disk, template };
  }

  it('copies the definition: writable disks cloned into the target catalog\'s group, read-only ones shared, fresh MACs', async () => {
    const golden = await goldenVm('golden');
    const source = (await t.call({ method: 'GET', url: '/v', token: world.owner.token, query: { vmid: golden.vmid } })).body;
    const reply = await clone(world.root, { vmid: golden.vmid, catalog: other.cid, name: 'golden-copy' });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    const copy = reply.body;
    assert.notEqual(copy.vmid, golden.vmid);
    assert.deepEqual(
      [copy.name, copy.catalog, copy.type, copy.cpu_count, copy.memory_size_mb, copy.displays, copy.state, typeof copy.cow],
      ['golden-copy', other.cid, 'EFI', 2, 512, source.displays, 'STOPPED', 'boolean'],
    );
    const [copiedDisk, sharedTemplate] = copy.storage_devices;
    assert.notEqual(copiedDisk, golden.disk, 'the writable disk is a new image');
    assert.equal(sharedTemplate, golden.template, 'the template is shared');
    assert.deepEqual(copy.read_only_storage_devices, [golden.template]);
    const [image] = await t.dataSource.query('SELECT gid, name, template, read_only, size_bytes FROM storage WHERE stid = ?', [copiedDisk]);
    assert.deepEqual(image, { gid: other.gid, name: 'golden-copy-disk1', template: 0, read_only: 0, size_bytes: 16 * MiB });
    const sourcePath = join(storageDir(), `${golden.disk}.img`);
    const copyPath = join(storageDir(), `${copiedDisk}.img`);
    assert.equal(await hashRange(copyPath, 0, 16 * MiB), await hashRange(sourcePath, 0, 16 * MiB));
    assert.deepEqual(copy.nics.map((n: { nicid: string }) => n.nicid), source.nics.map((n: { nicid: string }) => n.nicid));
    assert.notEqual(copy.nics[0].mac, source.nics[0].mac, 'a fresh MAC address');
    // The copy's owner sees and runs it; the source stays as it was.
    const seen = await t.call({ method: 'GET', url: '/v', token: other.token, query: { vmid: copy.vmid } });
    assert.equal(seen.status, 200, JSON.stringify(seen.body));
    assert.equal((await setState(t, other.token, copy.vmid, 'RUNNING')).status, 200);
    assert.equal((await setState(t, other.token, copy.vmid, 'STOPPED', true)).status, 200);
    assert.deepEqual((await t.call({ method: 'GET', url: '/v', token: world.owner.token, query: { vmid: golden.vmid } })).body, source);
    // Independent files: writing the copy leaves the source alone.
    const before = await hashRange(sourcePath, 0, 16 * MiB);
    await writeDataAt(copyPath, 0, MiB);
    assert.equal(await hashRange(sourcePath, 0, 16 * MiB), before);
  });

  it('a clone of a clone, in the same catalog, is as good as the first', async () => {
    const golden = await goldenVm('chain');
    const first = await clone(world.owner.token, { vmid: golden.vmid, catalog: world.cid, name: 'chain-1' });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const second = await clone(world.owner.token, { vmid: first.body.vmid, catalog: world.cid, name: 'chain-2' });
    assert.equal(second.status, 200, JSON.stringify(second.body));
    assert.equal(second.body.catalog, world.cid);
    const [image] = await t.dataSource.query('SELECT gid, name FROM storage WHERE stid = ?', [second.body.storage_devices[0]]);
    assert.deepEqual(image, { gid: world.gid, name: 'chain-2-disk1' });
    assert.equal((await setState(t, world.owner.token, second.body.vmid, 'RUNNING')).status, 200);
    assert.equal((await setState(t, world.owner.token, second.body.vmid, 'STOPPED', true)).status, 200);
  });

  it('needs view on the source\'s catalog and create on the target; a refusal changes nothing', async () => {
    const golden = await goldenVm('guarded');
    const gid = await t.createGroup(world.root, 'sharers');
    const sharer = await t.createUser(world.root, 'sharer', [gid]);
    const share = (cid: string, flags: Partial<typeof ALL_FLAGS>) =>
      t.call({ method: 'POST', url: '/c/share', token: world.root, body: { cid, gid, ...NO_FLAGS, ...flags } });
    assert.equal((await share(world.cid, { view: true })).status, 200);
    const before = await snapshot();
    // The target catalog invisible to the caller: its 404.
    let reply = await clone(sharer.token, { vmid: golden.vmid, catalog: other.cid, name: 'nope' });
    assert.deepEqual([reply.status, reply.body.code], [404, 'CATALOG_NOT_FOUND']);
    // Visible, but without create: 401.
    assert.equal((await share(other.cid, { view: true })).status, 200);
    reply = await clone(sharer.token, { vmid: golden.vmid, catalog: other.cid, name: 'nope' });
    assert.deepEqual([reply.status, reply.body.code], [401, 'PERMISSION_DENIED']);
    assert.match(reply.body.message, new RegExp(`create permission on catalog ${other.cid}`));
    // create on the target, but no view on the source: the source's answer comes first.
    assert.equal((await share(world.cid, { create: true })).status, 200);
    assert.equal((await share(other.cid, { create: true })).status, 200);
    reply = await clone(sharer.token, { vmid: golden.vmid, catalog: other.cid, name: 'nope' });
    assert.deepEqual([reply.status, reply.body.code], [401, 'PERMISSION_DENIED']);
    assert.match(reply.body.message, new RegExp(`view permission on catalog ${world.cid}`));
    assert.equal(await snapshot(), before);
    // Both: allowed, though the sharer manages neither group's storage.
    assert.equal((await share(world.cid, { view: true })).status, 200);
    reply = await clone(sharer.token, { vmid: golden.vmid, catalog: other.cid, name: 'shared-copy' });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.equal(reply.body.catalog, other.cid);
  });

  it('refuses a source that is not stopped, a name the target has, and bad input, changing nothing', async () => {
    const golden = await goldenVm('refused');
    const taken = await createEfiVm(t, world.owner.token, { name: 'taken', catalog: world.cid });
    assert.equal((await setState(t, world.owner.token, golden.vmid, 'RUNNING')).status, 200);
    const before = await snapshot();
    const cases: Array<[body: Record<string, unknown>, status: number, code: string]> = [
      [{ vmid: golden.vmid, catalog: world.cid, name: 'while-running' }, 409, 'VM_NOT_STOPPED'],
      [{ vmid: '00000000-0000-4000-8000-0000000000ff', catalog: world.cid, name: 'x' }, 404, 'VM_NOT_FOUND'],
      [{ vmid: golden.vmid, catalog: '00000000-0000-4000-8000-0000000000ff', name: 'x' }, 404, 'CATALOG_NOT_FOUND'],
      [{ vmid: golden.vmid, catalog: 'not-a-uuid', name: 'x' }, 400, 'VALIDATION_FAILED'],
      [{ vmid: golden.vmid, catalog: world.cid, name: '../etc' }, 400, 'VALIDATION_FAILED'],
      [{ vmid: golden.vmid, catalog: world.cid }, 400, 'VALIDATION_FAILED'],
      [{ vmid: golden.vmid, catalog: world.cid, name: 'x', extra: 1 }, 400, 'VALIDATION_FAILED'],
    ];
    for (const [body, status, code] of cases) {
      const reply = await clone(world.owner.token, body);
      assert.deepEqual([reply.status, reply.body.code], [status, code], JSON.stringify({ body, reply: reply.body }));
      assert.equal(typeof reply.body.message, 'string');
      assert.equal(await snapshot(), before, `${JSON.stringify(body)} changes nothing`);
    }
    assert.equal((await setState(t, world.owner.token, golden.vmid, 'STOPPED', true)).status, 200);
    // The name check runs after the disks are copied: the copies must go again.
    const stopped = await snapshot();
    const reply = await clone(world.owner.token, { vmid: golden.vmid, catalog: world.cid, name: 'taken' });
    assert.deepEqual([reply.status, reply.body.code, reply.body.vmid], [409, 'VM_NAME_TAKEN', taken]);
    assert.equal(await snapshot(), stopped, 'no storage row, no image file, no partial file');
  });

  it('a failure while copying the disks leaves no VM, no storage row and no file', async () => {
    const first = await createDisk(t, world.owner.token, world.gid, 'broken-first', 4);
    const second = await createDisk(t, world.owner.token, world.gid, 'broken-second', 4);
    const vmid = await createEfiVm(t, world.owner.token, { name: 'broken', catalog: world.cid, storage_devices: [first, second] });
    // The second disk's file is a directory now: the first copy succeeds, the second fails.
    const secondPath = join(storageDir(), `${second}.img`);
    renameSync(secondPath, `${secondPath}.aside`);
    mkdirSync(secondPath);
    try {
      const before = await snapshot();
      const reply = await clone(world.owner.token, { vmid, catalog: world.cid, name: 'broken-copy' });
      assert.equal(reply.status, 500, JSON.stringify(reply.body));
      assert.equal(reply.body.code, 'INTERNAL_ERROR');
      assert.equal(await snapshot(), before);
    } finally {
      rmSync(secondPath, { recursive: true });
      renameSync(`${secondPath}.aside`, secondPath);
    }
  });
});

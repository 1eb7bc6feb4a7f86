import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HypervisorService } from '../../src/hypervisor/hypervisor.service';
import { StorageFiles } from '../../src/resources/storage-files';
import { VmConfigBuilder } from '../../src/vms/vm-config.builder';
import { VmsRepository } from '../../src/vms/vms.repository';
import { allocatedBytes, hashRange, writeDataAt } from '../support/image-files';
import { TestApp } from '../support/test-app';
import { createDisk, createEfiVm, makeVmWorld, setState, uploadIso, VmWorld } from '../support/vm-fixture';
import { sleep } from '../support/wait';

const MiB = 1024 * 1024;

/** PATCH /r/storage: growing raw images, and templates (attached read-only only). */
describe('changing storage: grow and template', () => {
  let t: TestApp;
  let world: VmWorld;
  let storageDir: string;

  before(async () => {
    t = await TestApp.start();
    world = await makeVmWorld(t, 'patcher');
    storageDir = join(t.config.dataDir, 'storage');
  });
  after(() => t.close());

  const patch = (body: Record<string, unknown>) => t.call({ method: 'PATCH', url: '/r/storage', token: world.owner.token, body });

  /** The storage rows, the files and their sizes, to show that a refused request changed nothing. */
  async function snapshot(): Promise<string> {
    const files = readdirSync(storageDir).sort().map((name) => [name, statSync(join(storageDir, name)).size]);
    return JSON.stringify({ rows: await t.dataSource.query('SELECT * FROM storage ORDER BY stid'), files });
  }

  /** What the VM's disks look like to the driver and in GET /v. */
  async function diskModes(vmid: string): Promise<{ driver: boolean[]; readOnlyListed: string[] }> {
    const record = await t.app.get(VmsRepository).load(vmid);
    const config = t.app.get(VmConfigBuilder).build(record!);
    const vm = await t.call({ method: 'GET', url: '/v', token: world.owner.token, query: { vmid } });
    return { driver: config.disks.map((d) => d.read_only), readOnlyListed: vm.body.read_only_storage_devices };
  }

  it('grows a raw image sparsely: the size and the file grow, the data stays, no block is added', async () => {
    const stid = await createDisk(t, world.owner.token, world.gid, 'growing', 64);
    const path = join(storageDir, `${stid}.img`);
    await writeDataAt(path, 10 * MiB, MiB);
    const [hash, blocks] = [await hashRange(path, 0, 64 * MiB), await allocatedBytes(path)];
    const reply = await patch({ stid, size_mb: 10240 });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.deepEqual([reply.body.size_bytes, reply.body.template], [10240 * MiB, false]);
    assert.equal(statSync(path).size, 10240 * MiB);
    assert.equal(await allocatedBytes(path), blocks);
    assert.equal(await hashRange(path, 0, 64 * MiB), hash);
    const read = await t.call({ method: 'GET', url: '/r/storage', token: world.owner.token, query: { stid } });
    assert.equal(read.body.size_bytes, 10240 * MiB);
  });

  it('refuses to shrink, to keep the size, to grow an ISO (422), and bad input (400, 404); nothing changes', async () => {
    const stid = await createDisk(t, world.owner.token, world.gid, 'fixed', 64);
    const iso = await uploadIso(t, world.owner.token, world.gid, 'cd.iso');
    const before = await snapshot();
    const refusals: Array<[what: string, body: Record<string, unknown>, status: number, code: string]> = [
      ['shrinking', { stid, size_mb: 32 }, 422, 'STORAGE_CANNOT_GROW'],
      ['the same size', { stid, size_mb: 64 }, 422, 'STORAGE_CANNOT_GROW'],
      ['an ISO', { stid: iso.stid, size_mb: 64 }, 422, 'STORAGE_CANNOT_GROW'],
      ['an unknown image', { stid: '00000000-0000-4000-8000-0000000000cd', size_mb: 128 }, 404, 'STORAGE_NOT_FOUND'],
      ['size 0', { stid, size_mb: 0 }, 400, 'VALIDATION_FAILED'],
      ['a fraction', { stid, size_mb: 64.5 }, 400, 'VALIDATION_FAILED'],
      ['a template flag that is no boolean', { stid, template: 'yes' }, 400, 'VALIDATION_FAILED'],
      ['an unknown field', { stid, size_mb: 128, format: 'iso' }, 400, 'VALIDATION_FAILED'],
    ];
    for (const [what, body, status, code] of refusals) {
      const reply = await patch(body);
      assert.deepEqual([reply.status, reply.body.code], [status, code], `${what}: ${JSON.stringify(reply.body)}`);
    }
    assert.equal(await snapshot(), before);
  });

  it('a size above what the filesystem takes is the 422 of blank images, and rolls the whole change back', async () => {
    const stid = await createDisk(t, world.owner.token, world.gid, 'capped', 64);
    const before = await snapshot();
    // 16 TiB: one block more than ext4 takes with 4 KiB blocks.
    const reply = await patch({ stid, size_mb: 16 * 1024 * 1024, template: true });
    if (reply.status === 200) return; // a filesystem that takes 16 TiB files (XFS, btrfs)
    assert.deepEqual([reply.status, reply.body.code], [422, 'HOST_LIMIT_EXCEEDED'], JSON.stringify(reply.body));
    assert.match(reply.body.message, /the filesystem takes files of at most \d+ MiB/);
    assert.equal(await snapshot(), before, 'neither the size nor the template flag changed, and no probe file is left');
  });

  it('an image a VM that is not stopped uses does not grow (409 naming the VM); stopped, it does', async () => {
    const stid = await createDisk(t, world.owner.token, world.gid, 'in use', 64);
    const vmid = await createEfiVm(t, world.owner.token, { name: 'grower', catalog: world.cid, storage_devices: [stid] });
    assert.equal((await setState(t, world.owner.token, vmid, 'RUNNING')).status, 200);
    const before = await snapshot();
    for (const state of ['RUNNING', 'PAUSED']) {
      if (state === 'PAUSED') assert.equal((await setState(t, world.owner.token, vmid, 'PAUSED')).status, 200);
      const reply = await patch({ stid, size_mb: 128 });
      assert.deepEqual([reply.status, reply.body.code, reply.body.vmid], [409, 'STORAGE_IN_USE', vmid], `${state}: ${JSON.stringify(reply.body)}`);
    }
    assert.equal(await snapshot(), before);
    assert.equal((await setState(t, world.owner.token, vmid, 'STOPPED', true)).status, 200);
    const grown = await patch({ stid, size_mb: 128 });
    assert.deepEqual([grown.status, grown.body.size_bytes], [200, 128 * MiB]);
  });

  it('a VM start asked for while its disk grows waits for the grow: the file never grows under a running VM', async () => {
    const stid = await createDisk(t, world.owner.token, world.gid, 'growing', 64);
    const vmid = await createEfiVm(t, world.owner.token, { name: 'waits-for-grow', catalog: world.cid, storage_devices: [stid] });
    // The file operation made slow, so that the start arrives while it runs.
    const files = t.app.get(StorageFiles);
    const grow = files.grow.bind(files);
    const statesWhileGrowing: string[] = [];
    files.grow = async (image, bytes) => {
      await sleep(300);
      statesWhileGrowing.push(t.app.get(HypervisorService).state(vmid));
      return grow(image, bytes);
    };
    try {
      const grown = patch({ stid, size_mb: 128 });
      await sleep(100);
      const started = await setState(t, world.owner.token, vmid, 'RUNNING');
      assert.equal(started.status, 200, JSON.stringify(started.body));
      assert.equal((await grown).status, 200);
      assert.deepEqual(statesWhileGrowing, ['STOPPED'], 'the VM did not start while its disk grew');
    } finally {
      files.grow = grow;
      await setState(t, world.owner.token, vmid, 'STOPPED', true);
    }
  });

  it('a template attaches read-only, to any number of VMs, in GET /v and in the driver\'s configuration', async () => {
    const template = await createDisk(t, world.owner.token, world.gid, 'template', 64);
    const scratch = await createDisk(t, world.owner.token, world.gid, 'scratch', 64);
    const marked = await patch({ stid: template, template: true });
    assert.deepEqual([marked.status, marked.body.template, marked.body.read_only], [200, true, false]);
    const first = await createEfiVm(t, world.owner.token, { name: 'tmpl-a', catalog: world.cid, storage_devices: [template, scratch] });
    const second = await createEfiVm(t, world.owner.token, { name: 'tmpl-b', catalog: world.cid, storage_devices: [template] });
    assert.deepEqual(await diskModes(first), { driver: [true, false], readOnlyListed: [template] });
    assert.deepEqual(await diskModes(second), { driver: [true], readOnlyListed: [template] });
    assert.equal(await t.count('vm_storage', 'stid = ? AND writable = 1', [template]), 0);
    // It stays read-only across a change of the VM's definition.
    assert.equal((await t.call({ method: 'PATCH', url: '/v', token: world.owner.token, body: { vmid: second, cpu_count: 2 } })).status, 200);
    assert.deepEqual(await diskModes(second), { driver: [true], readOnlyListed: [template] });

    // While VMs share it read-only it stays a template: unmarking would make it writable under them.
    const unmark = await patch({ stid: template, template: false });
    assert.deepEqual([unmark.status, unmark.body.code], [409, 'STORAGE_IN_USE']);
    assert.ok([first, second].includes(unmark.body.vmid));
    // A running VM reading it keeps it from growing too.
    assert.equal((await setState(t, world.owner.token, second, 'RUNNING')).status, 200);
    assert.deepEqual((await patch({ stid: template, size_mb: 128 })).body.vmid, second);
    assert.equal((await setState(t, world.owner.token, second, 'STOPPED', true)).status, 200);

    for (const vmid of [first, second]) assert.equal((await t.call({ method: 'DELETE', url: '/v', token: world.owner.token, body: { vmid } })).status, 200);
    const unmarked = await patch({ stid: template, template: false });
    assert.deepEqual([unmarked.status, unmarked.body.template], [200, false]);
    const writer = await createEfiVm(t, world.owner.token, { name: 'tmpl-c', catalog: world.cid, storage_devices: [template] });
    assert.deepEqual(await diskModes(writer), { driver: [false], readOnlyListed: [] });
  });

  it('an image a VM holds writable cannot become a template (409 naming the VM), even while the VM is stopped', async () => {
    const stid = await createDisk(t, world.owner.token, world.gid, 'held', 64);
    const vmid = await createEfiVm(t, world.owner.token, { name: 'holder', catalog: world.cid, storage_devices: [stid] });
    const before = await snapshot();
    const reply = await patch({ stid, template: true });
    assert.deepEqual([reply.status, reply.body.code, reply.body.vmid], [409, 'STORAGE_IN_USE', vmid]);
    assert.equal(await snapshot(), before);
    // Detached, it can.
    assert.equal((await t.call({ method: 'PATCH', url: '/v', token: world.owner.token, body: { vmid, storage_devices: [] } })).status, 200);
    assert.equal((await patch({ stid, template: true })).status, 200);
  });
});

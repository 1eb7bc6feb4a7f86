import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestApp } from '../support/test-app';
import { createDisk, createEfiVm, makeVmWorld, setState, uploadIso, VmWorld } from '../support/vm-fixture';
import { sleep } from '../support/wait';

describe('the seed /v flow with the sim driver through FFI', () => {
  let t: TestApp;
  let w: VmWorld;

  before(async () => {
    t = await TestApp.start();
    w = await makeVmWorld(t);
  });
  after(() => t.close());

  it('create → RUNNING (200) → RUNNING (208) → PAUSED → RUNNING → STOPPED graceful and forced → DELETE', async () => {
    const disk = await createDisk(t, w.owner.token, w.gid, 'flow-disk');
    const created = await t.call({
      method: 'PUT',
      url: '/v/efi',
      token: w.owner.token,
      body: {
        name: 'flow',
        catalog: w.cid,
        cpu_count: '2',
        memory_size_mb: '1024',
        displays: [{ description: 'main', width: '1024', height: '768' }],
        storage_devices: [disk],
        nics: [w.natNic],
        rosetta: true,
        autostart: false,
      },
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const vmid = created.body.vmid;
    assert.deepEqual(Object.keys(created.body), ['vmid']);

    const vm = await t.call({ method: 'GET', url: '/v', token: w.owner.token, query: { vmid } });
    assert.equal(vm.body.cpu_count, 2, 'numeric strings are accepted');
    assert.equal(vm.body.memory_size_mb, 1024);
    assert.deepEqual(vm.body.storage_devices, [disk]);
    assert.equal(vm.body.nics[0].nicid, w.natNic);
    assert.match(vm.body.nics[0].mac, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    assert.equal(vm.body.state, 'STOPPED');
    assert.ok(vm.body.notes.some((n: string) => n.startsWith('rosetta')), 'the sim host has no Rosetta, said in notes');

    const steps: Array<[string, boolean, number, string]> = [
      ['RUNNING', false, 200, 'RUNNING'],
      ['RUNNING', false, 208, 'RUNNING'],
      ['PAUSED', false, 200, 'PAUSED'],
      ['PAUSED', false, 208, 'PAUSED'],
      ['RUNNING', false, 200, 'RUNNING'],
      ['STOPPED', false, 200, 'STOPPED'],
      ['RUNNING', false, 200, 'RUNNING'],
      ['STOPPED', true, 200, 'STOPPED'],
      ['STOPPED', false, 208, 'STOPPED'],
    ];
    for (const [state, force, status, expected] of steps) {
      const reply = await setState(t, w.owner.token, vmid, state, force);
      assert.equal(reply.status, status, `${state} force=${force}: ${JSON.stringify(reply.body)}`);
      assert.deepEqual(reply.body, { vmid, state: expected });
      const get = await t.call({ method: 'GET', url: '/v/state', token: w.owner.token, body: { vmid } });
      assert.deepEqual(get.body, { vmid, state: expected });
    }
    assert.equal((await t.dataSource.query('SELECT state FROM vms WHERE vmid = ?', [vmid]))[0].state, 'STOPPED');

    const deleted = await t.call({ method: 'DELETE', url: '/v', token: w.owner.token, body: { vmid } });
    assert.deepEqual([deleted.status, deleted.body], [200, { vmid }]);
    assert.equal(await t.count('vms', 'vmid = ?', [vmid]), 0);
    assert.equal(await t.count('storage', 'stid = ?', [disk]), 1, 'the storage stays');
    assert.equal((await t.call({ method: 'GET', url: '/v', token: w.owner.token, query: { vmid } })).status, 404);
  });

  it('PAUSED from STOPPED gets 403 with req_state and cur_state', async () => {
    const vmid = await createEfiVm(t, w.owner.token, { name: 'paused-from-stopped', catalog: w.cid });
    const reply = await setState(t, w.owner.token, vmid, 'PAUSED');
    assert.equal(reply.status, 403);
    assert.equal(reply.body.code, 'STATE_CHANGE_NOT_ALLOWED');
    assert.equal(reply.body.vmid, vmid);
    assert.equal(reply.body.req_state, 'PAUSED');
    assert.equal(reply.body.cur_state, 'STOPPED');
    assert.equal(typeof reply.body.message, 'string');
  });

  it('an injected hypervisor failure gets 500 with the message and the true state afterwards', async () => {
    const vmid = await createEfiVm(t, w.owner.token, { name: 'failing', catalog: w.cid, sim: { fail: { start: 'injected: firmware exploded' } } });
    const reply = await setState(t, w.owner.token, vmid, 'RUNNING');
    assert.equal(reply.status, 500);
    assert.equal(reply.body.code, 'HYPERVISOR_FAILURE');
    assert.match(reply.body.message, /injected: firmware exploded/);
    assert.deepEqual([reply.body.vmid, reply.body.state], [vmid, 'STOPPED']);
    const state = await t.call({ method: 'GET', url: '/v/state', token: w.owner.token, query: { vmid } });
    assert.equal(state.body.state, 'STOPPED');
    const vm = await t.call({ method: 'GET', url: '/v', token: w.owner.token, query: { vmid } });
    assert.match(vm.body.last_error, /firmware exploded/);
  });

  it('a guest that powers itself off is reported STOPPED without a request', async () => {
    const vmid = await createEfiVm(t, w.owner.token, { name: 'self-off', catalog: w.cid, sim: { poweroff_after_ms: 200 } });
    assert.equal((await setState(t, w.owner.token, vmid, 'RUNNING')).status, 200);
    const deadline = Date.now() + 5000;
    let state = 'RUNNING';
    while (state !== 'STOPPED' && Date.now() < deadline) {
      await sleep(50);
      state = (await t.call({ method: 'GET', url: '/v/state', token: w.owner.token, query: { vmid } })).body.state;
    }
    assert.equal(state, 'STOPPED');
  });

  it('concurrent state requests for one VM give exactly one transition', async () => {
    const vmid = await createEfiVm(t, w.owner.token, { name: 'racing-state', catalog: w.cid });
    const replies = await Promise.all([1, 2, 3].map(() => setState(t, w.owner.token, vmid, 'RUNNING')));
    assert.deepEqual(replies.map((r) => r.status).sort(), [200, 208, 208]);
    await setState(t, w.owner.token, vmid, 'STOPPED', true);
  });

  it('concurrent creates with the same name give one 200 and one 409 naming the VM', async () => {
    const replies = await Promise.all(
      [1, 2].map(() => t.call({ method: 'PUT', url: '/v/efi', token: w.owner.token, body: { name: 'twin', catalog: w.cid, cpu_count: 1, memory_size_mb: 256 } })),
    );
    assert.deepEqual(replies.map((r) => r.status).sort(), [200, 409]);
    const ok = replies.find((r) => r.status === 200)!;
    const conflict = replies.find((r) => r.status === 409)!;
    assert.equal(conflict.body.code, 'VM_NAME_TAKEN');
    assert.equal(conflict.body.vmid, ok.body.vmid);
    assert.equal(await t.count('vms', 'name = ?', ['twin']), 1);
  });

  it('a missing or invisible linked resource gets 404 with type and rid, and writes nothing', async () => {
    const missing = '00000000-0000-4000-8000-00000000abcd';
    const before = await t.count('vms');
    const storage = await t.call({ method: 'PUT', url: '/v/efi', token: w.owner.token, body: { name: 'orphan', catalog: w.cid, cpu_count: 1, memory_size_mb: 256, storage_devices: [missing] } });
    assert.equal(storage.status, 404);
    assert.deepEqual([storage.body.code, storage.body.type, storage.body.rid], ['RESOURCE_NOT_FOUND', 'storage', missing]);
    const nic = await t.call({ method: 'PUT', url: '/v/efi', token: w.owner.token, body: { name: 'orphan', catalog: w.cid, cpu_count: 1, memory_size_mb: 256, nics: [missing] } });
    assert.deepEqual([nic.status, nic.body.type, nic.body.rid], [404, 'nic', missing]);
    // Another group's disk is invisible, so it is "not found" as well.
    const other = await t.createUser(w.root, 'other-owner');
    const foreign = await createDisk(t, other.token, other.personalGid, 'foreign');
    const invisible = await t.call({ method: 'PUT', url: '/v/efi', token: w.owner.token, body: { name: 'thief', catalog: w.cid, cpu_count: 1, memory_size_mb: 256, storage_devices: [foreign] } });
    assert.deepEqual([invisible.status, invisible.body.rid], [404, foreign]);
    assert.equal(await t.count('vms'), before);
  });

  it('a writable disk attaches to one VM only; a read-only image to many', async () => {
    const disk = await createDisk(t, w.owner.token, w.gid, 'exclusive');
    const first = await createEfiVm(t, w.owner.token, { name: 'holder', catalog: w.cid, storage_devices: [disk] });
    const second = await t.call({ method: 'PUT', url: '/v/efi', token: w.owner.token, body: { name: 'grabber', catalog: w.cid, cpu_count: 1, memory_size_mb: 256, storage_devices: [disk] } });
    assert.equal(second.status, 409);
    assert.deepEqual([second.body.code, second.body.vmid], ['STORAGE_IN_USE', first]);
    const iso = await uploadIso(t, w.owner.token, w.gid, 'installer.iso');
    assert.equal(iso.read_only, true);
    await createEfiVm(t, w.owner.token, { name: 'iso-1', catalog: w.cid, storage_devices: [iso.stid] });
    await createEfiVm(t, w.owner.token, { name: 'iso-2', catalog: w.cid, storage_devices: [iso.stid] });
    // Attached storage cannot be deleted.
    const del = await t.call({ method: 'DELETE', url: '/r/storage', token: w.owner.token, body: { stid: disk } });
    assert.deepEqual([del.status, del.body.code, del.body.vmid], [409, 'STORAGE_IN_USE', first]);
  });

  it('limits are checked against the host capabilities; MAC VMs need the vz driver', async () => {
    const health = await t.call({ method: 'GET', url: '/health' });
    const maxCpu = health.body.hypervisor.capabilities.max_cpu_count;
    const tooMany = await t.call({ method: 'PUT', url: '/v/efi', token: w.owner.token, body: { name: 'greedy', catalog: w.cid, cpu_count: maxCpu + 1, memory_size_mb: 256 } });
    assert.equal(tooMany.status, 422);
    assert.equal(tooMany.body.code, 'HOST_LIMIT_EXCEEDED');
    assert.match(tooMany.body.message, new RegExp(`limit of ${maxCpu}`));
    const mac = await t.call({ method: 'PUT', url: '/v/mac', token: w.owner.token, body: { name: 'macos', catalog: w.cid, cpu_count: 1, memory_size_mb: 4096 } });
    assert.equal(mac.status, 422);
    assert.equal(mac.body.code, 'UNSUPPORTED_ON_HOST');
    assert.match(mac.body.message, /vz driver/);
    const bad = await t.call({ method: 'PUT', url: '/v/efi', token: w.owner.token, body: { name: 'bad', catalog: w.cid, cpu_count: 'two', memory_size_mb: -1 } });
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /cpu_count/);
    assert.match(bad.body.message, /memory_size_mb/);
  });

  it('KBOOT VMs take kernel, initrd and command line from storage', async () => {
    const kernel = await createDisk(t, w.owner.token, w.gid, 'vmlinuz', 8);
    const noKernel = await t.call({ method: 'PUT', url: '/v/kboot', token: w.owner.token, body: { name: 'k0', catalog: w.cid, cpu_count: 1, memory_size_mb: 256 } });
    assert.equal(noKernel.status, 400);
    const reply = await t.call({ method: 'PUT', url: '/v/kboot', token: w.owner.token, body: { name: 'k1', catalog: w.cid, cpu_count: 1, memory_size_mb: 256, kernel, cmdline: 'console=ttyS0' } });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    const vm = await t.call({ method: 'GET', url: '/v', token: w.owner.token, query: { vmid: reply.body.vmid } });
    assert.deepEqual([vm.body.type, vm.body.kernel, vm.body.cmdline], ['KBOOT', kernel, 'console=ttyS0']);
  });

  it('PATCH changes a stopped VM only, keeping what it does not mention', async () => {
    const vmid = await createEfiVm(t, w.owner.token, { name: 'patchable', catalog: w.cid, nics: [w.natNic] });
    const before = (await t.call({ method: 'GET', url: '/v', token: w.owner.token, query: { vmid } })).body;
    const patched = await t.call({ method: 'PATCH', url: '/v', token: w.owner.token, body: { vmid, cpu_count: 2, name: 'patched' } });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.deepEqual([patched.body.cpu_count, patched.body.name], [2, 'patched']);
    assert.deepEqual(patched.body.nics, before.nics, 'NICs and their MACs kept');
    await setState(t, w.owner.token, vmid, 'RUNNING');
    const running = await t.call({ method: 'PATCH', url: '/v', token: w.owner.token, body: { vmid, cpu_count: 1 } });
    assert.deepEqual([running.status, running.body.code], [409, 'VM_NOT_STOPPED']);
    // DELETE of a running VM: 409 unless forced.
    const del = await t.call({ method: 'DELETE', url: '/v', token: w.owner.token, body: { vmid } });
    assert.equal(del.status, 409);
    const forced = await t.call({ method: 'DELETE', url: '/v', token: w.owner.token, body: { vmid, force: true } });
    assert.equal(forced.status, 200);
    assert.equal(await t.count('vms', 'vmid = ?', [vmid]), 0);
  });

  it('GET /v/list pages through a catalog\'s VMs', async () => {
    const first = await t.call({ method: 'GET', url: '/v/list', token: w.owner.token, query: { cid: w.cid, limit: '2' } });
    assert.equal(first.status, 200);
    assert.equal(first.body.vms.length, 2);
    assert.ok(first.body.total >= 5);
    const all = await t.call({ method: 'GET', url: '/v/list', token: w.owner.token, body: { cid: w.cid, limit: 1000 } });
    assert.equal(all.body.vms.length, all.body.total);
  });

  it('deleting a catalog stops and removes its VMs and their files, but keeps their storage', async () => {
    const cat = await t.call({ method: 'PUT', url: '/c', token: w.owner.token, body: { group: w.gid, label: 'doomed' } });
    const cid = cat.body.cid;
    const disk = await createDisk(t, w.owner.token, w.gid, 'survivor');
    const vmid = await createEfiVm(t, w.owner.token, { name: 'doomed-vm', catalog: cid, storage_devices: [disk] });
    await setState(t, w.owner.token, vmid, 'RUNNING');
    const { existsSync } = await import('node:fs');
    const dir = `${t.config.dataDir}/vms/${vmid}`;
    assert.ok(existsSync(dir));
    const reply = await t.call({ method: 'DELETE', url: '/c', token: w.owner.token, body: { cid } });
    assert.equal(reply.status, 200);
    assert.equal(await t.count('vms', 'vmid = ?', [vmid]), 0);
    assert.equal(existsSync(dir), false);
    assert.equal(await t.count('storage', 'stid = ?', [disk]), 1);
    // The disk is free again.
    await createEfiVm(t, w.owner.token, { name: 'reuser', catalog: w.cid, storage_devices: [disk] });
  });

  it('a user whose personal storage a VM elsewhere uses cannot be deleted (409), and nothing changes', async () => {
    const lender = await t.createUser(w.root, 'lender');
    const disk = await createDisk(t, lender.token, lender.personalGid, 'lent');
    // root may attach any group's storage to a VM in this catalog.
    const vmid = await createEfiVm(t, w.root, { name: 'borrower', catalog: w.cid, storage_devices: [disk] });
    const catalogmanager = await t.specialGroupId(w.root, 'catalogmanager');
    await t.call({ method: 'PUT', url: '/u/group/assign', token: w.root, body: { uid: lender.uid, groups: [catalogmanager] } });
    const own = await t.call({ method: 'PUT', url: '/c', token: w.root, body: { group: lender.personalGid, label: 'lender catalog' } });
    const reply = await t.call({ method: 'DELETE', url: '/u/user', token: w.root, body: { uid: lender.uid } });
    assert.deepEqual([reply.status, reply.body.code, reply.body.vmid], [409, 'GROUP_IN_USE', vmid]);
    assert.equal(await t.count('users', 'uid = ?', [lender.uid]), 1);
    assert.equal(await t.count('storage', 'stid = ?', [disk]), 1);
    assert.equal(await t.count('catalogs', 'cid = ?', [own.body.cid]), 1, 'refused before anything was removed');
    await t.call({ method: 'DELETE', url: '/v', token: w.owner.token, body: { vmid } });
    assert.equal((await t.call({ method: 'DELETE', url: '/u/user', token: w.root, body: { uid: lender.uid } })).status, 200);
  });

  it('deleting a user stops and removes the VMs of their catalogs and removes their images', async () => {
    const catalogmanager = await t.specialGroupId(w.root, 'catalogmanager');
    const leaver = await t.createUser(w.root, 'leaver', [catalogmanager]);
    const cat = await t.call({ method: 'PUT', url: '/c', token: leaver.token, body: { group: leaver.personalGid, label: 'mine' } });
    const disk = await createDisk(t, leaver.token, leaver.personalGid, 'mine');
    const vmid = await createEfiVm(t, leaver.token, { name: 'mine', catalog: cat.body.cid, storage_devices: [disk] });
    assert.equal((await setState(t, leaver.token, vmid, 'RUNNING')).status, 200);
    const { existsSync } = await import('node:fs');
    const image = `${t.config.dataDir}/storage/${disk}.img`;
    assert.ok(existsSync(image));
    const reply = await t.call({ method: 'DELETE', url: '/u/user', token: w.root, body: { uid: leaver.uid } });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.equal(await t.count('vms', 'vmid = ?', [vmid]), 0);
    assert.equal(await t.count('catalogs', 'cid = ?', [cat.body.cid]), 0);
    assert.equal(await t.count('storage', 'stid = ?', [disk]), 0);
    assert.equal(existsSync(image), false, 'the image file is gone too');
    assert.equal(existsSync(`${t.config.dataDir}/vms/${vmid}`), false, 'and the VM directory');
  });
});

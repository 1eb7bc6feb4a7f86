import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HYPERVISOR_DRIVER } from '../../src/hypervisor/driver-selection';
import { HypervisorDriver, HypervisorEvent } from '../../src/hypervisor/hypervisor-driver';
import { TestApp } from '../support/test-app';
import { createDisk, makeVmWorld, setState, VmWorld } from '../support/vm-fixture';

/**
 * The vz driver's lifecycle through the HTTP API: a real Virtualization.framework VM (EFI
 * firmware, blank disk, so no guest OS) taken STOPPED → RUNNING → PAUSED → RUNNING → STOPPED,
 * with the driver's state events in order. It needs a Mac whose VMs can run (nested
 * virtualization: GitHub's macos-15-intel runners; not its Apple-silicon ones) and a node
 * signed with the virtualization entitlement (scripts/sign-node-macos.sh), so it runs only
 * where the macOS workflow asks for it with VELOCITY_VZ_LIFECYCLE=1.
 */
const enabled = process.platform === 'darwin' && process.env.VELOCITY_VZ_LIFECYCLE === '1';

describe('a vz VM through the HTTP API', { skip: !enabled && 'macOS with nested virtualization only (VELOCITY_VZ_LIFECYCLE=1)' }, () => {
  let t: TestApp;
  let w: VmWorld;
  const events: HypervisorEvent[] = [];

  before(async () => {
    t = await TestApp.start({ env: { VELOCITY_HYPERVISOR: 'vz' } });
    w = await makeVmWorld(t, 'vz');
    t.app.get<symbol, HypervisorDriver>(HYPERVISOR_DRIVER).events$.subscribe((e) => events.push(e));
  });
  after(() => t?.close());

  it('an EFI VM with a blank disk: STOPPED → RUNNING → PAUSED → RUNNING → STOPPED, state events in order', async () => {
    const disk = await createDisk(t, w.owner.token, w.gid, 'vz-disk', 64);
    const created = await t.call({
      method: 'PUT',
      url: '/v/efi',
      token: w.owner.token,
      body: { name: 'vz-efi', catalog: w.cid, cpu_count: 1, memory_size_mb: 512, storage_devices: [disk], nics: [w.natNic] },
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const vmid: string = created.body.vmid;
    for (const [state, force] of [['RUNNING', false], ['PAUSED', false], ['RUNNING', false], ['STOPPED', true]] as const) {
      const reply = await setState(t, w.owner.token, vmid, state, force);
      assert.deepEqual([reply.status, reply.body.state], [200, state], JSON.stringify(reply.body));
    }
    const states = events.filter((e) => e.vmId === vmid).map((e) => (e.type === 'state' ? e.state : `error: ${e.message}`));
    assert.deepEqual(states, ['STARTING', 'RUNNING', 'PAUSING', 'PAUSED', 'RESUMING', 'RUNNING', 'STOPPING', 'STOPPED']);
  });
});

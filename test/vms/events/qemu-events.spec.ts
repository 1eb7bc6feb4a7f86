import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { HypervisorService } from '../../../src/hypervisor/hypervisor.service';
import { buildInitramfs, closeQemuApp, ProcessTracker, requireKernel, requireQemu } from '../../hypervisor/qemu-fixture';
import { json, SseClient } from '../../support/sse-client';
import { TestApp } from '../../support/test-app';
import { createKbootVm, makeVmWorld, setState, uploadReadOnlyImage, VmWorld } from '../../support/vm-fixture';

/** A real guest powering itself off (qemu KBOOT, busybox `poweroff -f`) as GET /v/events reports it. */

const BOOT_MS = 90_000;
const POWEROFF_INIT = `
/bin/busybox mount -t devtmpfs devtmpfs /dev
echo VELOCITY-EVENTS-POWEROFF > /dev/ttyS0
/bin/busybox poweroff -f
`;

describe('GET /v/events with the qemu driver (TCG)', () => {
  const processes = new ProcessTracker();
  let t: TestApp;
  let w: VmWorld;
  let dataDir: string;

  before(async () => {
    requireQemu();
    t = await TestApp.start({ env: { VELOCITY_HYPERVISOR: 'qemu', VELOCITY_QEMU_ACCEL: 'tcg', VELOCITY_STOP_TIMEOUT: '3' } });
    dataDir = t.config.dataDir;
    w = await makeVmWorld(t, 'qemu-events');
  });

  after(async () => {
    await closeQemuApp(t, dataDir, processes);
  });

  it('a KBOOT guest that runs `poweroff -f`: RUNNING → STOPPING → STOPPED with cause guest, within a second of QEMU reporting it', async () => {
    const upload = (name: string, payload: Buffer) => uploadReadOnlyImage(t, w.owner.token, w.gid, name, payload);
    const kernel = await upload('vmlinuz', readFileSync(requireKernel()));
    const initrd = await upload('initrd.cpio', buildInitramfs(POWEROFF_INIT));
    const vmid = await createKbootVm(t, w.owner.token, { name: 'self-stopping', catalog: w.cid, kernel, initrd });
    const port = await t.listen();
    const stream = await SseClient.open(`http://127.0.0.1:${port}/v/events?vmid=${vmid}`, { authorization: `Bearer ${w.owner.token}` });
    let stoppedAt = 0;
    const subscription = t.app.get(HypervisorService).events$.subscribe((e) => {
      if (e.vmId === vmid && e.type === 'state' && e.state === 'STOPPED') stoppedAt = performance.now();
    });
    try {
      assert.equal((await setState(t, w.owner.token, vmid, 'RUNNING')).status, 200);
      const stopped = await stream.waitFor((e) => e.event === 'state' && json(e).state === 'STOPPED', BOOT_MS, 'the guest\'s power-off');
      assert.deepEqual(
        stream.events.filter((e) => e.event === 'state').map((e) => `${json(e).previous}→${json(e).state} ${json(e).cause}`),
        // QEMU reports the guest's shutdown (STOPPING), then its exit.
        ['STOPPED→STARTING request', 'STARTING→RUNNING request', 'RUNNING→STOPPING guest', 'STOPPING→STOPPED guest'],
      );
      assert.ok(stopped.receivedAt - stoppedAt < 1000, `${(stopped.receivedAt - stoppedAt).toFixed(0)} ms after QEMU reported it`);
      assert.deepEqual(stream.named('error'), [], 'a clean power-off is no error');
    } finally {
      subscription.unsubscribe();
      stream.close();
    }
  });
});

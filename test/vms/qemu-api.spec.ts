import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildInitramfs, closeQemuApp, isAlive, ProcessTracker, requireKernel, requireQemu } from '../hypervisor/qemu-fixture';
import { decodePng } from '../support/png';
import { TestApp } from '../support/test-app';
import { createDisk, createKbootVm, makeVmWorld, setState, uploadReadOnlyImage, VmWorld, waitForState } from '../support/vm-fixture';
import { sleep } from '../support/wait';

/**
 * The qemu driver's must-shows, through the HTTP API as a client sees them: real QEMU
 * processes under TCG, started, paused, stopped, killed from outside, kept across a server
 * restart; the serial console and screenshots through the interact endpoints.
 */

const BOOT_MS = 90_000;
const QEMU_ENV = { VELOCITY_HYPERVISOR: 'qemu', VELOCITY_QEMU_ACCEL: 'tcg', VELOCITY_STOP_TIMEOUT: '3' };
const MARKER_INIT = `
/bin/busybox mount -t devtmpfs devtmpfs /dev
echo VELOCITY-API-KBOOT-MARKER > /dev/ttyS0
/bin/busybox poweroff -f
`;

function pidOf(t: TestApp, vmid: string): number {
  return Number(readFileSync(join(t.config.dataDir, 'vms', vmid, 'qemu.pid'), 'utf8').trim());
}

/** utime + stime of a process, in clock ticks. */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

async function consoleUntil(t: TestApp, token: string, vmid: string, pattern: RegExp, ms = BOOT_MS): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const reply = await t.call({ method: 'GET', url: '/v/console', token, query: { vmid, bytes: '1048576' } });
    assert.equal(reply.status, 200);
    if (pattern.test(reply.body.output)) return reply.body.output;
    if (Date.now() > deadline) assert.fail(`console never showed ${pattern}; last output: ${reply.body.output.slice(-400)}`);
    await sleep(250);
  }
}

async function timed<T>(run: () => Promise<T>): Promise<[T, number]> {
  const began = process.hrtime.bigint();
  const result = await run();
  return [result, Number(process.hrtime.bigint() - began) / 1e6];
}

describe('VMs through the HTTP API with the qemu driver (TCG)', () => {
  const processes = new ProcessTracker();
  let t: TestApp;
  let w: VmWorld;
  let dataDir: string;
  const figures: string[] = [];

  before(async () => {
    requireQemu();
    t = await TestApp.start({ env: QEMU_ENV });
    dataDir = t.config.dataDir;
    w = await makeVmWorld(t, 'qemu');
    const health = await t.call({ method: 'GET', url: '/health' });
    assert.equal(health.body.hypervisor.driver, 'qemu');
    assert.equal(health.body.hypervisor.accelerator, 'tcg');
  });

  after(async () => {
    await closeQemuApp(t, dataDir, processes);
    for (const line of figures) console.log(`# ${line}`);
  });

  async function efiVm(name: string, extra: Record<string, unknown> = {}): Promise<string> {
    const disk = await createDisk(t, w.owner.token, w.gid, `${name}-disk`, 64);
    const reply = await t.call({
      method: 'PUT',
      url: '/v/efi',
      token: w.owner.token,
      body: { name, catalog: w.cid, cpu_count: 1, memory_size_mb: 128, storage_devices: [disk], nics: [w.natNic], ...extra },
    });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return reply.body.vmid;
  }

  let efi: string;

  it('an EFI VM with a blank disk: RUNNING, and the firmware\'s text appears on the console', async () => {
    efi = await efiVm('efi', { displays: [{ width: 800, height: 600 }] });
    const [reply, ms] = await timed(() => setState(t, w.owner.token, efi, 'RUNNING'));
    assert.deepEqual([reply.status, reply.body.state], [200, 'RUNNING']);
    figures.push(`POST /v/state RUNNING (EFI, TCG): ${ms.toFixed(0)} ms to the 200`);
    processes.track(pidOf(t, efi));
    await consoleUntil(t, w.owner.token, efi, /BdsDxe|UEFI Interactive Shell|Shell>/);
    assert.ok(existsSync(join(dataDir, 'vms', efi, 'efi-vars.fd')), 'the VM has its own EFI variable store');
  });

  it('a screenshot of the running EFI VM is a PNG of the requested size, not a blank frame', async () => {
    await consoleUntil(t, w.owner.token, efi, /Shell>/);
    const reply = await t.app.inject({ method: 'GET', url: `/v/screenshot?vmid=${efi}`, headers: { authorization: `Bearer ${w.owner.token}` } });
    assert.equal(reply.statusCode, 200, reply.body);
    assert.equal(reply.headers['content-type'], 'image/png');
    const png = decodePng(reply.rawPayload);
    assert.deepEqual([png.width, png.height], [800, 600]);
    assert.ok(png.colours > 1, `the frame has ${png.colours} colour(s)`);
  });

  it('PAUSED: the guest stops executing; RUNNING again; STOPPED with force: the process is gone', async () => {
    const pid = pidOf(t, efi);
    const [paused, pauseMs] = await timed(() => setState(t, w.owner.token, efi, 'PAUSED'));
    assert.deepEqual([paused.status, paused.body.state], [200, 'PAUSED']);
    const before = cpuTicks(pid);
    await sleep(1000);
    // A running TCG guest burns CPU; a paused one does (almost) nothing.
    assert.ok(cpuTicks(pid) - before < 20, `a paused VM used ${cpuTicks(pid) - before} ticks in a second`);
    const [resumed, resumeMs] = await timed(() => setState(t, w.owner.token, efi, 'RUNNING'));
    assert.deepEqual([resumed.status, resumed.body.state], [200, 'RUNNING']);
    const [stopped, stopMs] = await timed(() => setState(t, w.owner.token, efi, 'STOPPED', true));
    assert.deepEqual([stopped.status, stopped.body.state], [200, 'STOPPED']);
    assert.equal(isAlive(pid), false, 'the QEMU process is gone');
    figures.push(`POST /v/state PAUSED ${pauseMs.toFixed(0)} ms, RUNNING (resume) ${resumeMs.toFixed(0)} ms, STOPPED force ${stopMs.toFixed(0)} ms`);
  });

  it('the EFI variable store persists across starts', async () => {
    const vars = join(dataDir, 'vms', efi, 'efi-vars.fd');
    const inode = statSync(vars).ino;
    assert.equal((await setState(t, w.owner.token, efi, 'RUNNING')).status, 200);
    processes.track(pidOf(t, efi));
    assert.equal(statSync(vars).ino, inode, 'the same variable store, not a fresh copy');
  });

  it('a QEMU process killed from outside: STOPPED with the error, and a new start works', async () => {
    const pid = pidOf(t, efi);
    process.kill(pid, 'SIGKILL');
    await waitForState(t, w.owner.token, efi, 'STOPPED', 10_000);
    // The driver reports STOPPED, then the error; the error is recorded a moment later.
    let vm = await t.call({ method: 'GET', url: '/v', token: w.owner.token, query: { vmid: efi } });
    for (let i = 0; i < 40 && !vm.body.last_error; i++) {
      await sleep(50);
      vm = await t.call({ method: 'GET', url: '/v', token: w.owner.token, query: { vmid: efi } });
    }
    assert.ok(vm.body.last_error, 'the VM records why it stopped');
    assert.equal((await setState(t, w.owner.token, efi, 'RUNNING')).status, 200);
    processes.track(pidOf(t, efi));
  });

  it('a server restart keeps the VM RUNNING; afterwards it can be paused and stopped', async () => {
    const pid = pidOf(t, efi);
    await t.close({ keepData: true });
    assert.ok(isAlive(pid), 'QEMU outlives the server');
    t = await TestApp.start({ dataDir, env: QEMU_ENV });
    const token = await t.login(`qemu-owner`, 'qemu-owner-password');
    w = { ...w, owner: { ...w.owner, token } };
    const state = await t.call({ method: 'GET', url: '/v/state', token, query: { vmid: efi } });
    assert.equal(state.body.state, 'RUNNING');
    assert.equal(pidOf(t, efi), pid, 'the same process, re-attached');
    assert.equal((await setState(t, token, efi, 'PAUSED')).status, 200);
    assert.equal((await setState(t, token, efi, 'STOPPED', true)).status, 200);
    assert.equal(isAlive(pid), false);
  });

  it('a KBOOT VM prints its marker on the console and powers off: STOPPED with no request', async () => {
    const kernelPath = requireKernel();
    const upload = (name: string, payload: Buffer) => uploadReadOnlyImage(t, w.owner.token, w.gid, name, payload);
    const kernel = await upload('vmlinuz', readFileSync(kernelPath));
    const initrd = await upload('initrd.cpio', buildInitramfs(MARKER_INIT));
    const vmid = await createKbootVm(t, w.owner.token, { name: 'kboot', catalog: w.cid, kernel, initrd });
    assert.equal((await setState(t, w.owner.token, vmid, 'RUNNING')).status, 200);
    await consoleUntil(t, w.owner.token, vmid, /VELOCITY-API-KBOOT-MARKER/);
    await waitForState(t, w.owner.token, vmid, 'STOPPED', BOOT_MS);
  });

  it('bad definitions are refused with 4xx before any process starts', async () => {
    const qemuCount = () => readdirSync('/proc').filter((p) => /^\d+$/.test(p) && readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('qemu-system')).length;
    const running = qemuCount();
    // A kernel whose file is gone.
    const kernel = await createDisk(t, w.owner.token, w.gid, 'vanishing-kernel', 1);
    rmSync(join(dataDir, 'storage', `${kernel}.img`));
    const missing = await t.call({ method: 'PUT', url: '/v/kboot', token: w.owner.token, body: { name: 'no-kernel', catalog: w.cid, cpu_count: 1, memory_size_mb: 128, kernel } });
    assert.equal(missing.status, 422, JSON.stringify(missing.body));
    assert.equal(missing.body.code, 'INVALID_VM_CONFIG');
    assert.match(missing.body.message, /kernel/i);
    // More CPUs than the host has.
    const cpus = (await t.call({ method: 'GET', url: '/health' })).body.hypervisor.capabilities.max_cpu_count;
    const greedy = await t.call({ method: 'PUT', url: '/v/efi', token: w.owner.token, body: { name: 'greedy', catalog: w.cid, cpu_count: cpus + 1, memory_size_mb: 128 } });
    assert.deepEqual([greedy.status, greedy.body.code], [422, 'HOST_LIMIT_EXCEEDED']);
    // A writable disk already attached to another VM.
    const disk = (await t.call({ method: 'GET', url: '/v', token: w.owner.token, query: { vmid: efi } })).body.storage_devices[0];
    const second = await t.call({ method: 'PUT', url: '/v/efi', token: w.owner.token, body: { name: 'second', catalog: w.cid, cpu_count: 1, memory_size_mb: 128, storage_devices: [disk] } });
    assert.deepEqual([second.status, second.body.code, second.body.vmid], [409, 'STORAGE_IN_USE', efi]);
    assert.equal(await t.count('vms', "name IN ('no-kernel', 'greedy', 'second')"), 0);
    assert.equal(qemuCount(), running, 'no QEMU process was started');
  });

  it('a graceful stop the guest ignores answers 200 STOPPING after the bound; force then stops it', async () => {
    assert.equal((await setState(t, w.owner.token, efi, 'RUNNING')).status, 200);
    processes.track(pidOf(t, efi));
    await consoleUntil(t, w.owner.token, efi, /Shell>/);
    // The UEFI shell does not act on the ACPI power button.
    const [graceful, ms] = await timed(() => setState(t, w.owner.token, efi, 'STOPPED'));
    assert.deepEqual([graceful.status, graceful.body.state], [200, 'STOPPING']);
    assert.ok(ms >= 2900 && ms < 10_000, `answered after ${ms.toFixed(0)} ms with VELOCITY_STOP_TIMEOUT=3`);
    const again = await setState(t, w.owner.token, efi, 'STOPPED');
    assert.deepEqual([again.status, again.body.cur_state], [403, 'STOPPING']);
    const forced = await setState(t, w.owner.token, efi, 'STOPPED', true);
    assert.deepEqual([forced.status, forced.body.state], [200, 'STOPPED']);
  });

  it('ten idle VMs: the server\'s memory', async () => {
    const rssBefore = process.memoryUsage().rss;
    const vmids: string[] = [];
    for (let i = 0; i < 10; i++) vmids.push(await efiVm(`idle-${i}`));
    for (const vmid of vmids) {
      assert.equal((await setState(t, w.owner.token, vmid, 'RUNNING')).status, 200);
      processes.track(pidOf(t, vmid));
    }
    await sleep(2000);
    const server = process.memoryUsage().rss;
    const qemu = vmids.map((v) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pidOf(t, v)}/status`, 'utf8'))![1]) * 1024);
    figures.push(
      `10 running EFI VMs (128 MiB each): server RSS ${(server / 2 ** 20).toFixed(0)} MiB ` +
        `(${((server - rssBefore) / 2 ** 20).toFixed(1)} MiB more than before them); ` +
        `QEMU RSS ${(qemu.reduce((a, b) => a + b, 0) / 2 ** 20 / 10).toFixed(0)} MiB per VM`,
    );
    assert.ok(server - rssBefore < 64 * 2 ** 20, 'the server holds little per VM');
    for (const vmid of vmids) assert.equal((await setState(t, w.owner.token, vmid, 'STOPPED', true)).status, 200);
  });

  it('a VM the driver cannot define at start reports why, and starts once the cause is fixed', async () => {
    const vmid = await efiVm('fragile');
    const disk = (await t.call({ method: 'GET', url: '/v', token: w.owner.token, query: { vmid } })).body.storage_devices[0];
    const image = join(dataDir, 'storage', `${disk}.img`);
    await t.close({ keepData: true });
    rmSync(image);
    t = await TestApp.start({ dataDir, env: QEMU_ENV });
    const token = await t.login('qemu-owner', 'qemu-owner-password');
    const vm = await t.call({ method: 'GET', url: '/v', token, query: { vmid } });
    assert.match(vm.body.last_error, /could not be defined/);
    const refused = await setState(t, token, vmid, 'RUNNING');
    assert.deepEqual([refused.status, refused.body.code], [422, 'INVALID_VM_CONFIG']);
    const { closeSync, openSync, truncateSync } = await import('node:fs');
    closeSync(openSync(image, 'w'));
    truncateSync(image, 64 * 2 ** 20);
    assert.equal((await setState(t, token, vmid, 'RUNNING')).status, 200);
    processes.track(pidOf(t, vmid));
    assert.equal((await setState(t, token, vmid, 'STOPPED', true)).status, 200);
  });
});

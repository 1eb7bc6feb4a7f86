import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { buildQemuArgs } from '../../src/hypervisor/drivers/qemu/qemu-command';
import { vmFiles } from '../../src/hypervisor/drivers/qemu/qemu-files';
import { QemuDriver } from '../../src/hypervisor/drivers/qemu/qemu.driver';
import { QmpClient } from '../../src/hypervisor/drivers/qemu/qmp-client';
import { HypervisorError } from '../../src/hypervisor/hypervisor.errors';
import { decodePng } from '../support/png';
import { ScratchDir } from '../support/scratch-dir';
import { eventually, sleep } from '../support/wait';
import { consoleText, EventLog, isAlive, ProcessTracker, qemuConfig, requireQemu, typeInto, waitForConsole } from './qemu-fixture';

/**
 * The qemu driver against the real QEMU of this host, under TCG: one small EFI VM (OVMF,
 * 1 vCPU, 128 MiB, a blank 64 MiB disk, one display) taken through its life, including a
 * simulated server restart and a QEMU killed from outside.
 */

const VAR_GUID = '6e2a2b1c-5a0e-4d7e-9b59-1f4c0c1f2a3b';
const BOOT_TIMEOUT_MS = 90_000;
const isHypervisorError = (code: string, pattern?: RegExp) => (e: unknown) =>
  e instanceof HypervisorError && e.code === code && (!pattern || pattern.test(e.message));

describe('qemu driver: an EFI VM under TCG', () => {
  const processes = new ProcessTracker();
  const dir = new ScratchDir();
  const vmId = '5b0e8f7e-9a51-4c1e-8d43-000000000001';
  let driver: QemuDriver;
  let log: EventLog;
  let config: ReturnType<typeof qemuConfig>;
  let varsInode = 0;
  let consoleMark = 0;

  before(async () => {
    requireQemu();
    driver = await QemuDriver.open({ accel: 'tcg', stopGraceMs: 3_000 });
    log = new EventLog(driver);
    config = qemuConfig(dir, {
      disks: [{ path: dir.blankDisk('disk.raw', 64), read_only: false }],
      displays: [{ width: 720, height: 480 }],
    });
  });

  after(async () => {
    log?.dispose();
    await driver?.close();
    processes.killAll();
    dir.cleanup();
  });

  it('uses TCG as told and reports it in the capabilities', async () => {
    assert.equal(driver.accelerator, 'tcg');
    const caps = await driver.capabilities();
    assert.equal(caps.driver, 'qemu');
    assert.equal(caps.accelerator, 'tcg');
    assert.deepEqual(caps.vm_types, ['EFI', 'KBOOT']);
    assert.equal(caps.screenshots, true);
    assert.equal(caps.rosetta, false);
    assert.equal(caps.macos_guests, false);
  });

  it('start: STARTING, then RUNNING once QEMU runs; OVMF writes to the serial console', async (t) => {
    await driver.create(vmId, config);
    assert.equal(driver.state(vmId), 'STOPPED');
    const began = Date.now();
    await driver.start(vmId);
    t.diagnostic(`start() took ${Date.now() - began} ms`);
    processes.track(driver.pid(vmId));
    assert.equal(driver.state(vmId), 'RUNNING');
    assert.deepEqual(log.states(vmId), ['STARTING', 'RUNNING']);
    const pid = driver.pid(vmId)!;
    assert.ok(isAlive(pid));
    // Its own process group (detached), so it outlives the server.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
    assert.equal(pgrp, pid, 'QEMU leads its own process group');
    assert.notEqual(pgrp, process.pid);
    await waitForConsole(config.console.output, /BdsDxe/, BOOT_TIMEOUT_MS);
    assert.ok(existsSync(dir.file('efi-vars.fd')), 'the VM has its own EFI variable store');
    varsInode = statSync(dir.file('efi-vars.fd')).ino;
  });

  it('the console FIFO reaches the guest: the UEFI shell runs what is typed', async () => {
    await waitForConsole(config.console.output, /Shell> /, BOOT_TIMEOUT_MS);
    typeInto(config.console.input, `setvar VelocityMarker -guid ${VAR_GUID} -nv -bs =L"persisted"\r`);
    typeInto(config.console.input, 'echo velocity-console-ok\r');
    await waitForConsole(config.console.output, /^velocity-console-ok$/m, 30_000);
  });

  it('a screenshot is a PNG of the requested size with something drawn on it', async () => {
    const frame = await driver.captureDisplay(vmId, 0);
    assert.deepEqual([frame.width, frame.height], [720, 480]);
    const image = decodePng(frame.png);
    assert.equal(image.width, 720);
    assert.equal(image.height, 480);
    assert.ok(image.colours > 1, `the frame has ${image.colours} colour(s): the firmware's text should be on it`);
    assert.ok(!readdirSync(dir.path).some((n) => n.endsWith('.ppm') || n.endsWith('.png')), 'the intermediate PPM is removed');
    await assert.rejects(driver.captureDisplay(vmId, 1), isHypervisorError('INVALID_ARGUMENT', /no display 1/));
  });

  it('pause: PAUSING, then PAUSED', async () => {
    log.clear();
    await driver.pause(vmId);
    assert.equal(driver.state(vmId), 'PAUSED');
    assert.deepEqual(log.states(vmId), ['PAUSING', 'PAUSED']);
    await assert.rejects(driver.pause(vmId), isHypervisorError('INVALID_STATE'));
  });

  it('a new driver (a restarted server) re-attaches to the running QEMU and reconnects the console', async () => {
    const pid = driver.pid(vmId)!;
    log.dispose();
    await driver.close(); // the server goes away; QEMU must not
    await sleep(300);
    assert.ok(isAlive(pid), 'close() leaves QEMU running');

    // Independent check over QMP: QEMU says paused.
    const qmp = await QmpClient.connect(dir.file('qmp.sock'));
    const status = await qmp.execute<{ status: string; running: boolean }>('query-status');
    qmp.close();
    assert.equal(status.status, 'paused');
    assert.equal(status.running, false);

    // The restarted server re-creates the console FIFO.
    dir.fifo('console.in');
    driver = await QemuDriver.open({ accel: 'tcg', stopGraceMs: 3_000 });
    log = new EventLog(driver);
    await driver.create(vmId, config);
    assert.equal(driver.state(vmId), 'PAUSED');
    assert.equal(driver.pid(vmId), pid);
    assert.deepEqual(log.states(vmId), ['PAUSED']);

    await driver.resume(vmId);
    assert.equal(driver.state(vmId), 'RUNNING');
    assert.deepEqual(log.states(vmId), ['PAUSED', 'RESUMING', 'RUNNING']);
    consoleMark = consoleText(config.console.output).length;
    typeInto(config.console.input, 'echo after-restart-ok\r');
    await waitForConsole(config.console.output, /^after-restart-ok$/m, 30_000, consoleMark);
  });

  it('requestStop returns with STOPPING; a guest that ignores ACPI stays so until a forced stop', async () => {
    const pid = driver.pid(vmId)!;
    log.clear();
    await driver.requestStop(vmId);
    assert.equal(driver.state(vmId), 'STOPPING');
    await sleep(1_500); // the UEFI shell has no ACPI power-button handling
    assert.equal(driver.state(vmId), 'STOPPING');
    assert.ok(isAlive(pid));
    await assert.rejects(driver.pause(vmId), isHypervisorError('INVALID_STATE'));
    await assert.rejects(driver.requestStop(vmId), isHypervisorError('INVALID_STATE'));

    await driver.stop(vmId);
    assert.equal(driver.state(vmId), 'STOPPED');
    assert.deepEqual(log.states(vmId), ['STOPPING', 'STOPPED']);
    assert.deepEqual(log.errors(vmId), [], 'a requested stop is no error');
    await eventually(() => !isAlive(pid), 'the QEMU process to be gone', 5_000);
    assert.equal(driver.pid(vmId), undefined);
  });

  it('the EFI variable store is kept and reused: a variable set in one boot is there in the next', async () => {
    const vars = dir.file('efi-vars.fd');
    assert.equal(statSync(vars).ino, varsInode);
    assert.ok(readFileSync(vars).includes(Buffer.from('VelocityMarker', 'utf16le')), 'the NV variable reached the file');
    consoleMark = consoleText(config.console.output).length;
    await driver.start(vmId);
    processes.track(driver.pid(vmId));
    assert.equal(statSync(vars).ino, varsInode, 'not copied again');
    await waitForConsole(config.console.output, /Shell> /, BOOT_TIMEOUT_MS, consoleMark);
    typeInto(config.console.input, `setvar VelocityMarker -guid ${VAR_GUID}\r`);
    await waitForConsole(config.console.output, /VelocityMarker - 0012 Bytes/, 30_000, consoleMark);
  });

  it('a QEMU killed from outside: STOPPED and an error event at once; the VM starts again', async () => {
    const pid = driver.pid(vmId)!;
    log.clear();
    process.kill(pid, 'SIGKILL');
    await log.waitFor((e) => e.type === 'error' && e.vmId === vmId, 'an error event', 10_000);
    assert.equal(driver.state(vmId), 'STOPPED');
    assert.deepEqual(log.states(vmId), ['STOPPED']);
    assert.match(log.errors(vmId)[0], /stopped unexpectedly.*SIGKILL/);

    log.clear();
    await driver.start(vmId);
    processes.track(driver.pid(vmId));
    assert.equal(driver.state(vmId), 'RUNNING');
    await driver.stop(vmId);
    assert.deepEqual(log.states(vmId), ['STARTING', 'RUNNING', 'STOPPING', 'STOPPED']);
    assert.deepEqual(log.errors(vmId), []);
  });

  it('destroy forgets a stopped VM and leaves its files', async () => {
    await driver.destroy(vmId);
    assert.throws(() => driver.state(vmId), isHypervisorError('NOT_FOUND'));
    assert.ok(existsSync(dir.file('efi-vars.fd')));
    assert.ok(existsSync(config.console.output));
  });
});

describe('qemu driver: refusals', () => {
  const dir = new ScratchDir();
  let driver: QemuDriver;

  before(async () => {
    requireQemu();
    driver = await QemuDriver.open({ accel: 'tcg' });
  });

  after(async () => {
    await driver?.close();
    dir.cleanup();
  });

  /** Nothing of a QEMU run may appear in the VM directory. */
  function assertNothingStarted(): void {
    for (const name of ['qemu.pid', 'qemu-stderr.log', 'qmp.sock', 'efi-vars.fd']) {
      assert.ok(!existsSync(dir.file(name)), `${name} exists: a process was started`);
    }
  }

  it('bad configurations are refused with INVALID_CONFIG before any process starts', async () => {
    const caps = await driver.capabilities();
    const cases: [string, Partial<ReturnType<typeof qemuConfig>>, RegExp][] = [
      ['missing kernel', { type: 'KBOOT', kboot: { kernel: dir.file('nope'), initrd: null, cmdline: '' } }, /kboot\.kernel.*does not exist/],
      ['too many CPUs', { cpu_count: caps.max_cpu_count + 1 }, /cpu_count must be between 1 and/],
      ['too much memory', { memory_size_mb: caps.max_memory_mb + 1 }, /memory_size_mb/],
      ['too little memory', { memory_size_mb: 16 }, /memory_size_mb/],
      ['missing disk', { disks: [{ path: dir.file('missing.raw'), read_only: true }] }, /disks\[0\].*does not exist/],
      ['disk is a directory', { disks: [{ path: dir.path, read_only: true }] }, /not a regular file/],
      ['display too small', { displays: [{ width: 10, height: 480 }] }, /displays\[0\]\.width/],
      ['display too large', { displays: [{ width: 640, height: 100_000 }] }, /displays\[0\]\.height/],
      ['bad MAC', { nics: [{ type: 'NAT', mac: 'zz:54:00:12:34:56' }] }, /mac/],
      ['unknown bridge', { nics: [{ type: 'BRIDGE', interface: 'nosuchbr0' }] }, /not a bridge interface/],
      ['relative directory', { directory: 'relative/dir' }, /absolute path/],
    ];
    for (const [what, overrides, message] of cases) {
      await assert.rejects(driver.create(`bad-${what}`, qemuConfig(dir, overrides)), isHypervisorError('INVALID_CONFIG', message), what);
    }
    await assert.rejects(driver.create('mac', qemuConfig(dir, { type: 'MAC' })), isHypervisorError('UNSUPPORTED', /macOS/));
    assertNothingStarted();
  });

  it('start re-checks the files: a disk deleted after create is refused, and the VM stays STOPPED', async () => {
    const disk = dir.blankDisk('gone.raw', 1);
    await driver.create('gone-disk', qemuConfig(dir, { disks: [{ path: disk, read_only: false }] }));
    await rm(disk);
    await assert.rejects(driver.start('gone-disk'), isHypervisorError('INVALID_CONFIG', /does not exist/));
    assert.equal(driver.state('gone-disk'), 'STOPPED');
    await driver.create('no-fifo', qemuConfig(dir));
    await rm(dir.file('console.in'));
    await assert.rejects(driver.start('no-fifo'), isHypervisorError('INVALID_CONFIG', /console\.input.*does not exist/));
    assertNothingStarted();
  });

  it('screenshots need a display and a running VM; operations need the right state', async () => {
    await driver.create('headless', qemuConfig(dir));
    await assert.rejects(driver.captureDisplay('headless', 0), isHypervisorError('INVALID_ARGUMENT', /no displays/));
    await driver.create('stopped', qemuConfig(dir, { displays: [{ width: 640, height: 480 }] }));
    await assert.rejects(driver.captureDisplay('stopped', 0), isHypervisorError('INVALID_STATE'));
    for (const op of ['pause', 'resume', 'requestStop', 'stop'] as const) {
      await assert.rejects(driver[op]('stopped'), isHypervisorError('INVALID_STATE'), op);
    }
    await assert.rejects(driver.create('stopped', qemuConfig(dir)), isHypervisorError('ALREADY_EXISTS'));
    await assert.rejects(driver.start('nope'), isHypervisorError('NOT_FOUND'));
    assertNothingStarted();
  });

  it('rosetta is ignored: the VM is defined and would run exactly as without it', async () => {
    const config = qemuConfig(dir, { rosetta: true });
    await driver.create('rosetta', config);
    assert.equal(driver.state('rosetta'), 'STOPPED');
    const args = (rosetta: boolean) =>
      buildQemuArgs({
        vmId: 'rosetta',
        config: { ...config, rosetta },
        arch: driver.installation.arch,
        accelerator: driver.accelerator,
        files: vmFiles(config.directory),
        firmware: driver.installation.firmware,
      });
    assert.deepEqual(args(true), args(false));
  });
});

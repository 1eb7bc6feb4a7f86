import assert from 'node:assert/strict';
import { closeSync, constants as fsConstants, existsSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { after, afterEach, before, describe, it } from 'node:test';
import { AbiMismatchError, HypervisorError, NativeLibraryNotFoundError } from '../../src/hypervisor/hypervisor.errors';
import { NativeEvent, NativeHypervisorBinding } from '../../src/hypervisor/native/native-binding';
import { EXPECTED_ABI_VERSION } from '../../src/hypervisor/native/velocity-hv.library';
import { parsePpm, ppmToPng } from '../../src/hypervisor/ppm';
import { decodePng } from '../support/png';
import { ScratchDir } from '../support/scratch-dir';
import { eventually } from '../support/wait';
import { BAD_ABI_LIBRARY, EventRecorder, SIM_LIBRARY, simConfig, vmId } from './sim-fixture';

/** Asserts that `fn` throws a HypervisorError with that code (and a message matching). */
function assertHvError(fn: () => unknown, code: string, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof HypervisorError, `expected a HypervisorError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (message) assert.match(err.message, message);
    return true;
  });
}

describe('NativeHypervisorBinding over the sim library', () => {
  let binding: NativeHypervisorBinding;
  let recorder: EventRecorder;
  let dir: ScratchDir;

  before(() => {
    binding = NativeHypervisorBinding.load(SIM_LIBRARY);
    recorder = new EventRecorder(binding);
  });
  after(async () => {
    recorder.dispose();
    await binding.close();
  });
  afterEach(() => dir?.cleanup());

  it('loads the library and reports the expected ABI version', () => {
    assert.equal(binding.abiVersion, EXPECTED_ABI_VERSION);
  });

  it('reports the real host capabilities', () => {
    const caps = binding.hostCapabilities();
    assert.equal(caps.driver, 'sim');
    assert.ok(Number.isInteger(caps.max_cpu_count) && caps.max_cpu_count >= 1);
    assert.ok(caps.max_memory_mb > caps.min_memory_mb);
    assert.deepEqual(caps.vm_types, ['EFI', 'KBOOT']);
    assert.equal(caps.screenshots, true);
    assert.equal(caps.macos_guests, false);
    assert.equal(caps.rosetta, false);
    assert.ok(caps.bridge_interfaces.every((i) => i.id !== 'lo' && i.name.length > 0));
  });

  it('runs create → start → pause → resume → request_stop → start → stop → destroy with ordered events from a native thread', async () => {
    dir = new ScratchDir();
    const id = vmId();
    const from = recorder.events.length;
    assert.equal(binding.create(id, simConfig(dir)), 'STOPPED');
    assert.equal(binding.state(id), 'STOPPED');

    const steps: [op: 'start' | 'pause' | 'resume' | 'request_stop' | 'stop', states: string[]][] = [
      ['start', ['STARTING', 'RUNNING']],
      ['pause', ['PAUSING', 'PAUSED']],
      ['resume', ['RESUMING', 'RUNNING']],
      ['request_stop', ['STOPPING', 'STOPPED']],
      ['start', ['STARTING', 'RUNNING']],
      ['stop', ['STOPPING', 'STOPPED']],
    ];
    const opIds: number[] = [];
    for (const [op, states] of steps) {
      const opId = binding.operate(id, op);
      opIds.push(opId);
      // The transitional state is entered at once (the events below show it); a loaded
      // machine may even have finished the transition by now, but never still be before it.
      assert.ok(states.includes(binding.state(id)), `${op} left the previous state at once`);
      const done = await recorder.waitForOp(opId);
      assert.equal(done.type === 'op' && done.ok, true, `${op} succeeded`);
      assert.equal(binding.state(id), states[1]);
    }
    binding.destroy(id);
    assertHvError(() => binding.state(id), 'NOT_FOUND');

    const events = recorder.events.slice(from).filter((e) => e.vm_id === id);
    const expected: string[] = [];
    steps.forEach(([op, states], i) => expected.push(...states.map((s) => `state:${s}`), `op:${op}:${opIds[i]}`));
    assert.deepEqual(
      events.map((e) => (e.type === 'state' ? `state:${e.state}` : e.type === 'op' ? `op:${e.op}:${e.op_id}` : 'error')),
      expected,
    );
    for (let i = 1; i < events.length; i++) assert.equal(events[i].seq, events[i - 1].seq + 1, 'seq increments by one');
    assert.ok(opIds.every((op, i) => i === 0 || op > opIds[i - 1]), 'op ids increase');
    const threads = new Set(events.map((e) => e.thread));
    assert.equal(threads.size, 1, 'one event thread');
    const [thread] = threads;
    assert.ok(typeof thread === 'number' && thread > 0 && thread !== process.pid, 'not the JS thread');
  });

  it('refuses operations the state does not allow, unknown VMs, duplicate ids and bad configurations', () => {
    dir = new ScratchDir();
    const id = vmId();
    binding.create(id, simConfig(dir));
    assertHvError(() => binding.create(id, simConfig(dir)), 'ALREADY_EXISTS', new RegExp(id));
    for (const op of ['pause', 'resume', 'request_stop', 'stop'] as const) {
      assertHvError(() => binding.operate(id, op), 'INVALID_STATE', /STOPPED/);
    }
    assertHvError(() => binding.operate('no-such-vm', 'start'), 'NOT_FOUND', /no-such-vm/);
    assertHvError(() => binding.destroy('no-such-vm'), 'NOT_FOUND');
    assertHvError(() => binding.create('', simConfig(dir)), 'INVALID_ARGUMENT');

    const bad: [Record<string, unknown>, string, RegExp][] = [
      [{ cpu_count: undefined }, 'INVALID_CONFIG', /cpu_count is required/],
      [{ cpu_count: 0 }, 'INVALID_CONFIG', /cpu_count must be between 1 and \d+, got 0/],
      [{ cpu_count: 1.5 }, 'INVALID_CONFIG', /cpu_count must be an integer/],
      [{ memory_size_mb: 16 }, 'INVALID_CONFIG', /memory_size_mb must be between 128/],
      [{ name: '' }, 'INVALID_CONFIG', /name must not be empty/],
      [{ type: 'XEN' }, 'INVALID_CONFIG', /type must be EFI, KBOOT or MAC/],
      [{ type: 'MAC' }, 'UNSUPPORTED', /macOS guests/],
      [{ type: 'KBOOT' }, 'INVALID_CONFIG', /kboot is required/],
      [{ directory: 'relative/dir' }, 'INVALID_CONFIG', /directory must be an absolute path/],
      [{ directory: '/no/such/dir' }, 'INVALID_CONFIG', /does not exist/],
      [{ rosetta: true }, 'UNSUPPORTED', /Rosetta/],
      [{ displays: [{ width: 99999, height: 10 }] }, 'INVALID_CONFIG', /displays\[0\]\.width/],
      [{ nics: [{ type: 'BRIDGE', interface: 'no-such-if0' }] }, 'INVALID_CONFIG', /not a bridgeable interface/],
      [{ nics: [{ type: 'NAT', mac: 'zz' }] }, 'INVALID_CONFIG', /nics\[0\]\.mac/],
      [{ nics: [{ type: 'FILEHANDLE' }] }, 'INVALID_CONFIG', /nics\[0\]\.socket is required/],
      [{ disks: [{ path: 'disk.img' }] }, 'INVALID_CONFIG', /disks\[0\]\.path must be an absolute path/],
      [{ sim: { fail: { boot: 'x' } } }, 'INVALID_CONFIG', /sim\.fail\.boot is not an operation/],
      [{ sim: { time_scale: -1 } }, 'INVALID_CONFIG', /sim\.time_scale/],
      [{ nics: [], port_forwards: [{ protocol: 'tcp', host_address: '127.0.0.1', host_port: 2222, guest_port: 22 }] }, 'INVALID_CONFIG', /port_forwards need a NAT NIC/],
      [{ port_forwards: [{ protocol: 'sctp', host_address: '127.0.0.1', host_port: 2222, guest_port: 22 }] }, 'INVALID_CONFIG', /port_forwards\[0\]\.protocol/],
      [{ port_forwards: [{ protocol: 'tcp', host_address: '127.0.0.1', host_port: 0, guest_port: 22 }] }, 'INVALID_CONFIG', /port_forwards\[0\]\.host_port must be between 1 and 65535/],
      [{ nics: [], sim: { guest_addresses: ['10.0.0.2'] } }, 'INVALID_CONFIG', /guest_addresses need a NIC/],
      [{ sim: { guest_addresses: [7] } }, 'INVALID_CONFIG', /guest_addresses\[0\]/],
    ];
    for (const [override, code, message] of bad) {
      const config = { ...simConfig(dir), ...override };
      assertHvError(() => binding.create(vmId(), config as never), code, message);
    }
    binding.destroy(id);
  });

  it('an injected start failure reports HYPERVISOR_ERROR with the message and leaves the VM STOPPED', async () => {
    dir = new ScratchDir();
    const id = vmId();
    binding.create(id, simConfig(dir, { sim: { time_scale: 0.05, fail: { start: 'no firmware today' } } }));
    const from = recorder.events.length;
    const opId = binding.operate(id, 'start');
    const done = await recorder.waitForOp(opId);
    assert.ok(done.type === 'op' && !done.ok);
    assert.deepEqual(done.error, { code: 'HYPERVISOR_ERROR', message: 'no firmware today' });
    assert.equal(binding.state(id), 'STOPPED');
    assert.deepEqual(
      recorder.events.slice(from).filter((e) => e.vm_id === id && e.type === 'state').map((e) => (e as { state: string }).state),
      ['STARTING', 'STOPPED'],
    );
    binding.destroy(id);
  });

  it('a graceful stop can be cut short by a forced stop', async () => {
    dir = new ScratchDir();
    const id = vmId();
    binding.create(id, simConfig(dir, { sim: { time_scale: 0.5 } })); // request_stop takes 150 ms
    await recorder.waitForOp(binding.operate(id, 'start'));
    const graceful = binding.operate(id, 'request_stop');
    const forced = binding.operate(id, 'stop');
    const gracefulDone = await recorder.waitForOp(graceful);
    assert.ok(gracefulDone.type === 'op' && !gracefulDone.ok);
    assert.equal(gracefulDone.error?.code, 'INVALID_STATE');
    assert.match(gracefulDone.error?.message ?? '', /superseded/);
    const forcedDone = await recorder.waitForOp(forced);
    assert.ok(forcedDone.type === 'op' && forcedDone.ok);
    assert.equal(binding.state(id), 'STOPPED');
    assert.deepEqual(
      recorder.forVm(id).filter((e) => e.type === 'state').map((e) => (e as { state: string }).state),
      ['STARTING', 'RUNNING', 'STOPPING', 'STOPPED'],
    );
    binding.destroy(id);
  });

  it('VHV_SIM_TIME_SCALE scales the delays of VMs created while it is set', async () => {
    dir = new ScratchDir();
    const fast = vmId();
    process.env.VHV_SIM_TIME_SCALE = '0';
    try {
      binding.create(fast, simConfig(dir, { sim: { time_scale: 1 } }));
    } finally {
      delete process.env.VHV_SIM_TIME_SCALE;
    }
    const slow = vmId();
    binding.create(slow, simConfig(dir, { sim: { time_scale: 0.5 } }));
    const t0 = Date.now();
    await recorder.waitForOp(binding.operate(fast, 'start'));
    const fastMs = Date.now() - t0;
    const t1 = Date.now();
    await recorder.waitForOp(binding.operate(slow, 'start'));
    const slowMs = Date.now() - t1;
    assert.ok(fastMs < 100, `scaled to 0: ${fastMs} ms`);
    assert.ok(slowMs >= 195, `400 ms × 0.5 = 200 ms, took ${slowMs} ms`);
    for (const id of [fast, slow]) {
      await recorder.waitForOp(binding.operate(id, 'stop'));
      binding.destroy(id);
    }
  });

  it('a guest that crashes sends STOPPED and then an error event; one that powers off goes STOPPING → STOPPED', async () => {
    dir = new ScratchDir();
    const crash = vmId();
    const poweroff = vmId();
    binding.create(crash, simConfig(dir, { sim: { time_scale: 0, crash_after_ms: 30 } }));
    binding.create(poweroff, simConfig(dir, { sim: { time_scale: 0, poweroff_after_ms: 30 } }, 'other'));
    binding.operate(crash, 'start');
    binding.operate(poweroff, 'start');
    const error = await recorder.waitFor((e) => e.type === 'error' && e.vm_id === crash, 3000, 'crash');
    assert.ok(error.type === 'error' && error.error.code === 'HYPERVISOR_ERROR' && /crash/.test(error.error.message));
    const crashStates = recorder.forVm(crash).map((e) => (e.type === 'state' ? e.state : e.type));
    assert.deepEqual(crashStates, ['STARTING', 'RUNNING', 'op', 'STOPPED', 'error']);
    await recorder.waitFor((e) => e.type === 'state' && e.vm_id === poweroff && e.state === 'STOPPED', 3000, 'poweroff');
    const offStates = recorder.forVm(poweroff).map((e) => (e.type === 'state' ? e.state : e.type));
    assert.deepEqual(offStates, ['STARTING', 'RUNNING', 'op', 'STOPPING', 'STOPPED']);
    assert.match(readFileSync(dir.file('other.log'), 'utf8'), /reboot: Power down/);
    binding.destroy(crash);
    binding.destroy(poweroff);
  });

  it('console: the boot banner reaches the output file and typed input is echoed', async () => {
    dir = new ScratchDir();
    const id = vmId();
    const config = simConfig(dir, { name: 'console-vm', cpu_count: 1, memory_size_mb: 768 });
    binding.create(id, config);
    await recorder.waitForOp(binding.operate(id, 'start'));
    const output = () => readFileSync(config.console.output, 'utf8');
    assert.match(output(), /Velocity sim firmware/);
    assert.match(output(), /Booting console-vm \(1 vCPU, 768 MiB/);
    assert.ok(output().endsWith('sim login: '));

    const fd = openSync(config.console.input, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
    try {
      writeSync(fd, 'root\r');
      await eventually(() => output().includes('sim login: root\r\nsim login: '), 'the echo of "root"');
      writeSync(fd, 'echo ünïcode\n');
      await eventually(() => output().includes('echo ünïcode\r\n'), 'the echo of a UTF-8 line');
    } finally {
      closeSync(fd);
    }
    await recorder.waitForOp(binding.operate(id, 'request_stop'));
    assert.match(output(), /reboot: Power down\r\n$/);
    binding.destroy(id);
  });

  it('start fails with HYPERVISOR_ERROR when the console input is not a FIFO or a disk is missing', async () => {
    dir = new ScratchDir();
    const notFifo = vmId();
    const base = simConfig(dir);
    writeFileSync(dir.file('plain-file'), '');
    binding.create(notFifo, { ...base, console: { output: base.console.output, input: dir.file('plain-file') } });
    const done = await recorder.waitForOp(binding.operate(notFifo, 'start'));
    assert.ok(done.type === 'op' && !done.ok && done.error?.code === 'HYPERVISOR_ERROR');
    assert.match(done.error?.message ?? '', /plain-file is not a FIFO/);
    assert.equal(binding.state(notFifo), 'STOPPED');

    const noDisk = vmId();
    binding.create(noDisk, { ...base, disks: [{ path: dir.file('missing.img'), read_only: false }] });
    const done2 = await recorder.waitForOp(binding.operate(noDisk, 'start'));
    assert.ok(done2.type === 'op' && !done2.ok);
    assert.match(done2.error?.message ?? '', /missing\.img: No such file/);
    binding.destroy(notFifo);
    binding.destroy(noDisk);
  });

  it('capture_display writes a non-blank P6 frame of the configured size that converts to PNG', async () => {
    dir = new ScratchDir();
    const id = vmId();
    binding.create(id, simConfig(dir, { displays: [{ width: 320, height: 240 }, { width: 640, height: 400 }] }));
    const ppm = dir.file('frame.ppm');
    assertHvError(() => binding.captureDisplay(id, 0, ppm), 'INVALID_STATE', /STOPPED/);
    await recorder.waitForOp(binding.operate(id, 'start'));
    assert.deepEqual(binding.captureDisplay(id, 1, ppm), { width: 640, height: 400, format: 'ppm' });
    const first = readFileSync(ppm);
    const image = parsePpm(first);
    assert.equal(image.width, 640);
    assert.equal(image.height, 400);
    const { png } = await ppmToPng(first);
    const decoded = decodePng(png);
    assert.equal(decoded.width, 640);
    assert.equal(decoded.height, 400);
    assert.equal(decoded.bitDepth, 8);
    assert.equal(decoded.colourType, 2);
    assert.ok(decoded.rgb.equals(image.rgb), 'PNG pixels are the PPM pixels');
    assert.ok(new Set(decoded.rgb.subarray(0, 30000)).size > 50, 'not a blank frame');
    binding.captureDisplay(id, 1, ppm);
    assert.ok(!readFileSync(ppm).equals(first), 'the next frame differs');

    assertHvError(() => binding.captureDisplay(id, 2, ppm), 'INVALID_ARGUMENT', /no display 2/);
    assertHvError(() => binding.captureDisplay(id, 0, 'relative.ppm'), 'INVALID_ARGUMENT');
    assertHvError(() => binding.captureDisplay(id, 0, dir.file('no/such/dir/x.ppm')), 'HYPERVISOR_ERROR', /cannot write/);
    await recorder.waitForOp(binding.operate(id, 'stop'));
    binding.destroy(id);

    const headless = vmId();
    binding.create(headless, simConfig(dir, { displays: [] }));
    await recorder.waitForOp(binding.operate(headless, 'start'));
    assertHvError(() => binding.captureDisplay(headless, 0, ppm), 'INVALID_ARGUMENT', /has no display/);
    await recorder.waitForOp(binding.operate(headless, 'stop'));
    binding.destroy(headless);
  });

  it('vhv_guest_addresses: each NIC with its MAC; the configured addresses on the first, only while RUNNING', async () => {
    dir = new ScratchDir();
    const id = vmId();
    binding.create(
      id,
      simConfig(dir, {
        nics: [{ type: 'NAT', mac: '52:54:00:12:34:56' }, { type: 'NAT' }],
        port_forwards: [{ protocol: 'tcp', host_address: '127.0.0.1', host_port: 2222, guest_port: 22 }],
        sim: { time_scale: 0, guest_addresses: ['192.168.64.7', 'fd00::7'] },
      }),
    );
    const stopped = [
      { mac: '52:54:00:12:34:56', ip_addresses: [] },
      { mac: null, ip_addresses: [] },
    ];
    assert.deepEqual(binding.guestAddresses(id), stopped);
    const started = binding.operate(id, 'start');
    await recorder.waitForOp(started);
    assert.deepEqual(binding.guestAddresses(id), [{ mac: '52:54:00:12:34:56', ip_addresses: ['192.168.64.7', 'fd00::7'] }, { mac: null, ip_addresses: [] }]);
    const stop = binding.operate(id, 'stop');
    await recorder.waitForOp(stop);
    assert.deepEqual(binding.guestAddresses(id), stopped);
    binding.destroy(id);
    assertHvError(() => binding.guestAddresses(id), 'NOT_FOUND');
  });

  it('hands events to the JS listeners on a later turn, not inside the native callback', async () => {
    dir = new ScratchDir();
    const id = vmId();
    binding.create(id, simConfig(dir, { sim: { time_scale: 0 } }));
    const seen: NativeEvent[] = [];
    const off = binding.onEvent((e) => {
      if (e.vm_id === id) seen.push(e);
    });
    const opId = binding.operate(id, 'start');
    assert.equal(seen.length, 0, 'nothing is delivered synchronously');
    await recorder.waitForOp(opId);
    off();
    assert.deepEqual(
      seen.map((e) => e.type),
      ['state', 'state', 'op'],
    );
    await recorder.waitForOp(binding.operate(id, 'stop'));
    binding.destroy(id);
  });
});

describe('loading native libraries', () => {
  it('names the path it looked for when the library is missing', () => {
    const path = '/nonexistent/dir/libvelocity_sim.so';
    assert.throws(
      () => NativeHypervisorBinding.load(path),
      (err: unknown) =>
        err instanceof NativeLibraryNotFoundError && err.path === path && err.message.includes(path),
    );
  });

  it('refuses a library with another ABI version, naming both numbers', () => {
    assert.ok(existsSync(BAD_ABI_LIBRARY));
    assert.throws(
      () => NativeHypervisorBinding.load(BAD_ABI_LIBRARY),
      (err: unknown) =>
        err instanceof AbiMismatchError &&
        err.expected === EXPECTED_ABI_VERSION &&
        err.actual === 999 &&
        /ABI version 999/.test(err.message) &&
        new RegExp(`needs ${EXPECTED_ABI_VERSION}`).test(err.message),
    );
  });

  it('two bindings can share the library; closing one leaves the other working, and a closed binding refuses calls', async () => {
    const a = NativeHypervisorBinding.load(SIM_LIBRARY);
    const b = NativeHypervisorBinding.load(SIM_LIBRARY);
    const recordB = new EventRecorder(b);
    const dir = new ScratchDir();
    try {
      await a.close();
      assert.throws(() => a.hostCapabilities(), /closed/);
      const id = vmId();
      b.create(id, simConfig(dir, { sim: { time_scale: 0 } }));
      const done = await recordB.waitForOp(b.operate(id, 'start'));
      assert.ok(done.type === 'op' && done.ok);
      await recordB.waitForOp(b.operate(id, 'stop'));
      b.destroy(id);
    } finally {
      recordB.dispose();
      await b.close();
      dir.cleanup();
    }
  });

  it('re-registers after the last binding closed (close and reopen in one process)', async () => {
    const dir = new ScratchDir();
    try {
      for (let round = 0; round < 3; round++) {
        const binding = NativeHypervisorBinding.load(SIM_LIBRARY);
        const recorder = new EventRecorder(binding);
        const id = vmId();
        binding.create(id, simConfig(dir, { sim: { time_scale: 0 } }));
        await recorder.waitForOp(binding.operate(id, 'start'));
        await recorder.waitForOp(binding.operate(id, 'stop'));
        binding.destroy(id);
        recorder.dispose();
        await binding.close();
      }
    } finally {
      dir.cleanup();
    }
  });
});

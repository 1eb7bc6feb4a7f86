import assert from 'node:assert/strict';
import { readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { after, afterEach, before, describe, it } from 'node:test';
import { NativeHypervisorDriver } from '../../src/hypervisor/drivers/native.driver';
import { HypervisorEvent, VmConfig } from '../../src/hypervisor/hypervisor-driver';
import { HypervisorError } from '../../src/hypervisor/hypervisor.errors';
import { NativeHypervisorBinding } from '../../src/hypervisor/native/native-binding';
import { decodePng } from '../support/png';
import { ScratchDir } from '../support/scratch-dir';
import { strictFake } from '../support/strict-fake';
import { eventually, within } from '../support/wait';
import { SIM_LIBRARY, simConfig, vmId } from './sim-fixture';

async function rejectsWith(promise: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof HypervisorError, `expected a HypervisorError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (message) assert.match(err.message, message);
    return true;
  });
}

/**
 * The conformance suite of velocity_hv.h libraries, run against each target:
 *  - sim: the C simulator library, everywhere;
 *  - vz on Linux: the Swift `vz` library built against VirtualizationStandIn, a test double of
 *    Virtualization.framework (`npm run swift:linux` builds it in a Debian chroot and runs this
 *    file there with VELOCITY_TEST_VZ_LINUX_LIBRARY set). The double takes the sim's fault
 *    script from vz-standin.json in the VM's directory, since the library ignores "sim".
 */
interface ConformanceTarget {
  name: string;
  driver: 'sim' | 'vz';
  library: string;
  /** What the library's host capabilities say: frames can be captured. */
  screenshots: boolean;
  config(dir: ScratchDir, overrides?: Partial<VmConfig>): VmConfig;
}

const VZ_LINUX_LIBRARY = process.env.VELOCITY_TEST_VZ_LINUX_LIBRARY;
const targets: (ConformanceTarget | { name: string; skip: string })[] = [
  { name: 'sim', driver: 'sim', library: SIM_LIBRARY, screenshots: true, config: simConfig },
  VZ_LINUX_LIBRARY
    ? {
        name: 'vz on Linux, Virtualization stand-in',
        driver: 'vz',
        library: VZ_LINUX_LIBRARY,
        screenshots: false,
        config: (dir, overrides) => {
          const { sim, ...config } = simConfig(dir, overrides);
          writeFileSync(dir.file('vz-standin.json'), JSON.stringify(sim ?? {}));
          return config;
        },
      }
    : { name: 'vz on Linux, Virtualization stand-in', skip: 'runs in `npm run swift:linux` (VELOCITY_TEST_VZ_LINUX_LIBRARY)' },
];

for (const target of targets) {
  if ('skip' in target) {
    describe(`NativeHypervisorDriver (${target.name})`, { skip: target.skip }, () => undefined);
    continue;
  }
  conformance(target);
}

function conformance(target: ConformanceTarget): void {
  const config = target.config;
  describe(`NativeHypervisorDriver (${target.name})`, () => {
    let driver: NativeHypervisorDriver;
    const events: HypervisorEvent[] = [];
    let dir: ScratchDir;

    before(() => {
      driver = NativeHypervisorDriver.open(target.driver, target.library);
      driver.events$.subscribe((e) => events.push(e));
    });
    after(() => driver.close());
    afterEach(() => dir?.cleanup());

    it('operations resolve when the transition is complete, after its state events', async () => {
      dir = new ScratchDir();
      const id = vmId();
      await driver.create(id, config(dir));
      await driver.start(id);
      assert.equal(driver.state(id), 'RUNNING');
      await driver.pause(id);
      assert.equal(driver.state(id), 'PAUSED');
      await driver.resume(id);
      await driver.requestStop(id);
      assert.equal(driver.state(id), 'STOPPED');
      await driver.destroy(id);
      const mine = events.filter((e) => e.vmId === id);
      assert.deepEqual(
        mine.map((e) => (e.type === 'state' ? e.state : e.type)),
        ['STARTING', 'RUNNING', 'PAUSING', 'PAUSED', 'RESUMING', 'RUNNING', 'STOPPING', 'STOPPED'],
      );
    });

    it('state() is the state of the last event handled, which the library itself answers once the events are in, a guest power-off included', async () => {
      dir = new ScratchDir();
      const id = vmId();
      // A second binding on the same library: what the library answers when asked.
      const library = NativeHypervisorBinding.load(target.library);
      await driver.create(id, config(dir, { sim: { time_scale: 0.05, poweroff_after_ms: 30 } }));
      assert.deepEqual([driver.state(id), library.state(id)], ['STOPPED', 'STOPPED']);
      const seen: string[] = [];
      const subscription = driver.events$.subscribe((e) => {
        if (e.vmId === id && e.type === 'state') seen.push(`${e.state}=${driver.state(id)}`);
      });
      try {
        await driver.start(id);
        assert.deepEqual([driver.state(id), library.state(id)], ['RUNNING', 'RUNNING']);
        await eventually(() => driver.state(id) === 'STOPPED', 'the guest powers itself off');
        assert.equal(library.state(id), 'STOPPED');
        // Whoever hears an event and reads the state reads what the event says.
        assert.ok(seen.length >= 3 && seen.every((pair) => pair.split('=')[0] === pair.split('=')[1]), seen.join(' '));
      } finally {
        subscription.unsubscribe();
      }
      await driver.destroy(id);
      await rejectsWith(Promise.resolve().then(() => driver.state(id)), 'NOT_FOUND');
    });

    it('an injected failure rejects with a typed HypervisorError carrying the native message; the state is the true one', async () => {
      dir = new ScratchDir();
      const id = vmId();
      await driver.create(id, config(dir, { sim: { time_scale: 0.05, fail: { pause: 'pause is broken', stop: 'stuck' } } }));
      await driver.start(id);
      await rejectsWith(driver.pause(id), 'HYPERVISOR_ERROR', /(^|: )pause is broken$/);
      assert.equal(driver.state(id), 'RUNNING');
      await rejectsWith(driver.stop(id), 'HYPERVISOR_ERROR', /(^|: )stuck$/);
      assert.equal(driver.state(id), 'RUNNING');
      await driver.requestStop(id);
      assert.equal(driver.state(id), 'STOPPED');
      await driver.destroy(id);
    });

    it('refusals reject at once with INVALID_STATE / NOT_FOUND / INVALID_CONFIG', async () => {
      dir = new ScratchDir();
      const id = vmId();
      await driver.create(id, config(dir));
      await rejectsWith(driver.pause(id), 'INVALID_STATE', /cannot pause .*STOPPED/);
      await rejectsWith(driver.start('missing'), 'NOT_FOUND');
      await rejectsWith(driver.create(vmId(), { ...config(dir), cpu_count: 100000 }), 'INVALID_CONFIG', /cpu_count/);
      await rejectsWith(driver.create(id, config(dir)), 'ALREADY_EXISTS');
      await driver.start(id);
      await rejectsWith(driver.destroy(id), 'INVALID_STATE', /RUNNING/);
      await driver.stop(id);
      await driver.destroy(id);
    });

    it('more displays than the capabilities allow are refused as INVALID_CONFIG at create', async (t) => {
      const { max_displays: max } = await driver.capabilities();
      if (max === undefined) return t.skip('the library has no display limit');
      dir = new ScratchDir();
      const displays = Array.from({ length: max + 1 }, () => ({ width: 640, height: 480 }));
      await rejectsWith(driver.create(vmId(), config(dir, { displays })), 'INVALID_CONFIG', /display/);
    });

    it('a crash arrives as an error event after the STOPPED state event', async () => {
      dir = new ScratchDir();
      const id = vmId();
      await driver.create(id, config(dir, { sim: { time_scale: 0, crash_after_ms: 10 } }));
      const crashed = new Promise<HypervisorEvent>((resolve) => {
        const sub = driver.events$.subscribe((e) => {
          if (e.vmId === id && e.type === 'error') {
            sub.unsubscribe();
            resolve(e);
          }
        });
      });
      await driver.start(id);
      const error = await within(crashed, 3000, 'the crash event');
      assert.equal(error.type === 'error' && error.code, 'HYPERVISOR_ERROR');
      assert.equal(driver.state(id), 'STOPPED');
      const last = events.filter((e) => e.vmId === id).slice(-2);
      assert.deepEqual(last.map((e) => (e.type === 'state' ? e.state : e.type)), ['STOPPED', 'error']);
      await driver.destroy(id);
    });

    it('a stopped VM holds none of its files open (console FIFO and log, sockets)', async () => {
      dir = new ScratchDir();
      const id = vmId();
      const held = (): string[] =>
        readdirSync('/proc/self/fd').flatMap((fd) => {
          try {
            const target = readlinkSync(`/proc/self/fd/${fd}`);
            return target.startsWith(dir.path) ? [target] : [];
          } catch {
            return []; // closed meanwhile
          }
        });
      await driver.create(id, config(dir));
      await driver.start(id);
      await driver.stop(id);
      assert.deepEqual(held(), []);
      await driver.start(id);
      await driver.requestStop(id);
      assert.deepEqual(held(), []);
      await driver.destroy(id);
    });

    it('captureDisplay is refused as UNSUPPORTED where the capabilities say there are no screenshots', { skip: target.screenshots }, async () => {
      dir = new ScratchDir();
      const id = vmId();
      assert.equal((await driver.capabilities()).screenshots, false);
      await driver.create(id, config(dir));
      await driver.start(id);
      await rejectsWith(driver.captureDisplay(id, 0), 'UNSUPPORTED');
      assert.deepEqual((await readdir(dir.path)).filter((f) => f.endsWith('.ppm')), []);
      await driver.stop(id);
      await driver.destroy(id);
    });

    it('captureDisplay returns a PNG of the display size and leaves no temporary PPM behind', { skip: !target.screenshots }, async () => {
      dir = new ScratchDir();
      const id = vmId();
      await driver.create(id, config(dir, { displays: [{ width: 800, height: 600 }] }));
      await driver.start(id);
      const frame = await driver.captureDisplay(id, 0);
      assert.deepEqual([frame.width, frame.height], [800, 600]);
      const decoded = decodePng(frame.png);
      assert.equal(decoded.width, 800);
      assert.equal(decoded.height, 600);
      const first = decoded.rgb.subarray(0, 3);
      let differs = 0;
      for (let i = 3; i < decoded.rgb.length; i += 3) if (!decoded.rgb.subarray(i, i + 3).equals(first)) differs++;
      assert.ok(differs > decoded.rgb.length / 6, 'most pixels differ from the first one');
      assert.ok(frame.png.length < 800 * 600 * 3, 'compressed');
      assert.deepEqual((await readdir(dir.path)).filter((f) => f.endsWith('.ppm')), []);
      await assert.rejects(driver.captureDisplay(id, 3), /no display 3/);
      assert.deepEqual((await readdir(dir.path)).filter((f) => f.endsWith('.ppm')), []);
      await driver.stop(id);
      await driver.destroy(id);
    });

    it('openRemoteScreen: an RFB server of the display\'s size per call; refused unless running; each ends when the VM stops', { skip: target.driver !== 'sim' }, async () => {
      dir = new ScratchDir();
      const id = vmId();
      await driver.create(id, config(dir, { displays: [{ width: 320, height: 200 }] }));
      await rejectsWith(driver.openRemoteScreen(id), 'INVALID_STATE', /needs a running VM/);
      await driver.start(id);
      const screens = [await driver.openRemoteScreen(id), await driver.openRemoteScreen(id)];
      const closed = screens.map((screen) => new Promise((resolve) => screen.once('close', resolve)));
      for (const screen of screens) {
        const received: Buffer[] = [];
        screen.on('data', (chunk: Buffer) => received.push(chunk));
        screen.write(Buffer.from('RFB 003.008\n', 'latin1'));
        screen.write(Buffer.from([1, 1])); // security type None, ClientInit (shared)
        await eventually(() => Buffer.concat(received).length >= 12 + 2 + 4 + 24, 'ServerInit');
        const init = Buffer.concat(received).subarray(18);
        assert.deepEqual([init.readUInt16BE(0), init.readUInt16BE(2)], [320, 200]);
      }
      await driver.stop(id);
      await within(Promise.all(closed), 2000, 'the remote screens to end');
      await driver.destroy(id);
    });

    it('openRemoteScreen is refused as UNSUPPORTED by vz, naming the limit', { skip: target.driver !== 'vz' }, async () => {
      await rejectsWith(driver.openRemoteScreen(vmId()), 'UNSUPPORTED', /Virtualization\.framework has no public VNC server/);
    });

    it('guestAddresses: none unless running; then what the guest is known to have (sim: its configured ones; vz: the host\'s DHCP leases, none on Linux)', async () => {
      dir = new ScratchDir();
      const id = vmId();
      await driver.create(id, config(dir, { sim: { time_scale: 0.05, guest_addresses: ['192.168.64.7', 'fe80::1', 'fd00::7'] } }));
      assert.deepEqual(await driver.guestAddresses(id), []);
      await driver.start(id);
      // Link-local addresses are never reported: they are not a way to reach the guest.
      assert.deepEqual(await driver.guestAddresses(id), target.driver === 'sim' ? ['192.168.64.7', 'fd00::7'] : []);
      await driver.stop(id);
      assert.deepEqual(await driver.guestAddresses(id), []);
      await driver.destroy(id);
    });

    it('close() stops and forgets its VMs (so a restarted server can define them again) and completes events$', async () => {
      const local = NativeHypervisorDriver.open(target.driver, target.library);
      const localDir = new ScratchDir();
      let completed = false;
      local.events$.subscribe({ complete: () => (completed = true) });
      const running = vmId();
      const paused = vmId();
      const starting = vmId();
      const stopped = vmId();
      try {
        for (const id of [running, paused, starting, stopped]) {
          await local.create(id, config(localDir, { sim: { time_scale: 0.05 } }));
        }
        await local.start(running);
        await local.start(paused);
        await local.pause(paused);
        const pendingStart = local.start(starting); // still STARTING when close() begins
        await local.close();
        await pendingStart; // completed before the driver forgot the VM
        assert.equal(completed, true);
        const probe = NativeHypervisorBinding.load(target.library);
        try {
          for (const id of [running, paused, starting, stopped]) {
            assert.throws(() => probe.state(id), (err: unknown) => err instanceof HypervisorError && err.code === 'NOT_FOUND');
          }
        } finally {
          await probe.close();
        }
        await assert.rejects(local.start(running), /closing/);
      } finally {
        localDir.cleanup();
      }
    });
  });
}

// The vz driver's refusal is the driver's own, before the library is asked: shown here with
// a binding that answers nothing, so it runs where no vz library can load.
describe('NativeHypervisorDriver (vz, any binding)', () => {
  it('refuses a remote screen, naming the limit', async () => {
    const vz = new NativeHypervisorDriver('vz', strictFake<NativeHypervisorBinding>('vz binding', { onEvent: () => () => undefined }));
    await rejectsWith(vz.openRemoteScreen(vmId()), 'UNSUPPORTED', /Virtualization\.framework has no public VNC server/);
  });
});

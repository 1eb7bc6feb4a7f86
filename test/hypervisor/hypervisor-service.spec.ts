import assert from 'node:assert/strict';
import { LoggerService, Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { afterEach, describe, it } from 'node:test';
import { Subject } from 'rxjs';
import { AppConfig, loadConfig } from '../../src/config/app-config';
import { ConfigModule } from '../../src/config/config.module';
import { nativeLibraryPath, selectDriver } from '../../src/hypervisor/driver-selection';
import { detectQemu, QemuInstallation } from '../../src/hypervisor/drivers/qemu/qemu-host';
import { HostCapabilities, HypervisorDriver, HypervisorEvent, VmState } from '../../src/hypervisor/hypervisor-driver';
import { DriverUnavailableError, HypervisorError, NativeLibraryNotFoundError } from '../../src/hypervisor/hypervisor.errors';
import { HypervisorModule } from '../../src/hypervisor/hypervisor.module';
import { HypervisorService } from '../../src/hypervisor/hypervisor.service';
import { ScratchDir } from '../support/scratch-dir';
import { SIM_LIBRARY, simConfig, vmId } from './sim-fixture';

/** Captures what Nest loggers print. */
class CapturingLogger implements LoggerService {
  readonly lines: { level: string; message: string }[] = [];
  log(message: string): void {
    this.lines.push({ level: 'log', message });
  }
  warn(message: string): void {
    this.lines.push({ level: 'warn', message });
  }
  error(message: string): void {
    this.lines.push({ level: 'error', message });
  }
}

function config(hypervisor: string): AppConfig {
  return loadConfig({ VELOCITY_HYPERVISOR: hypervisor, VELOCITY_DATA_DIR: '/tmp/velocity-unused' });
}

/** Whether `auto` picks qemu on this host (QEMU and its firmware installed). */
function qemuInstalled(): boolean {
  const found = detectQemu();
  return process.platform === 'linux' && found.available && found.installation.firmware !== undefined;
}

describe('driver selection', () => {
  const installed: QemuInstallation = {
    arch: 'x86_64',
    binary: '/usr/bin/qemu-system-x86_64',
    firmware: { code: '/usr/share/OVMF/OVMF_CODE_4M.fd', varsTemplate: '/usr/share/OVMF/OVMF_VARS_4M.fd' },
  };
  const missing = () => ({ available: false as const, reason: 'qemu-system-x86_64 was not found on PATH' });

  it('auto picks vz on macOS, qemu on Linux where QEMU and its firmware are installed, else the simulator (with a warning)', () => {
    assert.deepEqual(selectDriver('auto', 'darwin', missing, () => true), { driver: 'vz' });
    const unbuilt = selectDriver('auto', 'darwin', missing, () => false);
    assert.equal(unbuilt.driver, 'sim');
    assert.match(unbuilt.warning ?? '', /vz library is not built .*xcode-select --install/);
    const linux = selectDriver('auto', 'linux', missing);
    assert.equal(linux.driver, 'sim');
    assert.match(linux.warning ?? '', /simulat/);
    assert.deepEqual(selectDriver('auto', 'linux', () => ({ available: true, installation: installed })), { driver: 'qemu' });
    const noFirmware = selectDriver('auto', 'linux', () => ({ available: true, installation: { ...installed, firmware: undefined } }));
    assert.equal(noFirmware.driver, 'sim');
    assert.match(noFirmware.warning ?? '', /no UEFI firmware.*simulat/);
  });

  it('sim and vz can be chosen explicitly; vz only on macOS', () => {
    assert.deepEqual(selectDriver('sim', 'linux'), { driver: 'sim' });
    assert.deepEqual(selectDriver('vz', 'darwin', missing, () => true), { driver: 'vz' });
    assert.throws(() => selectDriver('vz', 'darwin', missing, () => false), (e: unknown) => e instanceof DriverUnavailableError && /not built/.test(e.message));
    assert.throws(() => selectDriver('vz', 'linux'), (e: unknown) => e instanceof DriverUnavailableError && /macOS/.test(e.message));
  });

  it('qemu needs Linux and an installed QEMU, else a clear startup error', () => {
    assert.deepEqual(selectDriver('qemu', 'linux', () => ({ available: true, installation: installed })), { driver: 'qemu' });
    assert.throws(
      () => selectDriver('qemu', 'linux', missing),
      (e: unknown) => e instanceof DriverUnavailableError && /VELOCITY_HYPERVISOR=qemu: qemu-system-x86_64 was not found/.test(e.message),
    );
    assert.throws(() => selectDriver('qemu', 'darwin'), (e: unknown) => e instanceof DriverUnavailableError && /needs Linux/.test(e.message));
  });

  it('finds the library in native-bridge/build unless VELOCITY_NATIVE_LIB overrides it', () => {
    assert.equal(nativeLibraryPath('sim', {}, process.platform), SIM_LIBRARY);
    assert.match(nativeLibraryPath('vz', {}, 'darwin'), /native-bridge\/build\/libvelocity_vz\.dylib$/);
    assert.equal(nativeLibraryPath('sim', { VELOCITY_NATIVE_LIB: '/opt/lib/x.so' }), '/opt/lib/x.so');
  });
});

describe('HypervisorService', () => {
  const savedEnv = process.env.VELOCITY_NATIVE_LIB;
  afterEach(() => {
    if (savedEnv === undefined) delete process.env.VELOCITY_NATIVE_LIB;
    else process.env.VELOCITY_NATIVE_LIB = savedEnv;
  });

  async function start(hypervisor: string) {
    const logger = new CapturingLogger();
    const moduleRef = await Test.createTestingModule({
      imports: [ConfigModule.forRoot(config(hypervisor)), HypervisorModule],
    })
      .setLogger(logger)
      .compile();
    Logger.overrideLogger(logger);
    try {
      await moduleRef.init();
    } catch (err) {
      await moduleRef.close().catch(() => undefined);
      throw err;
    }
    return { moduleRef, logger, service: moduleRef.get(HypervisorService) };
  }

  it('auto on this (non-macOS) host runs qemu where installed, else the sim driver with a warning, and serves VMs', { skip: process.platform === 'darwin' }, async () => {
    const { moduleRef, logger, service } = await start('auto');
    const dir = new ScratchDir();
    const expected = qemuInstalled() ? 'qemu' : 'sim';
    const id = vmId();
    try {
      assert.equal(service.driverName, expected);
      if (expected === 'sim') {
        assert.ok(logger.lines.some((l) => l.level === 'warn' && /simulator/.test(l.message)), JSON.stringify(logger.lines));
      }
      assert.equal(service.capabilities.driver, expected);
      const health = service.healthInfo();
      assert.equal(health.driver, expected);
      assert.equal(health.simulated, expected === 'sim');
      assert.equal(health.accelerator !== undefined, expected === 'qemu');
      assert.deepEqual(health.capabilities.vm_types, ['EFI', 'KBOOT']);
      assert.ok(!('bridge_interfaces' in health.capabilities), 'no host details in the health answer');

      const seen: HypervisorEvent[] = [];
      const sub = service.events$.subscribe((e) => seen.push(e));
      await service.create(id, simConfig(dir, { sim: { time_scale: 0 } }));
      await service.start(id);
      assert.equal(service.state(id), 'RUNNING');
      await service.stop(id);
      await service.destroy(id);
      sub.unsubscribe();
      assert.deepEqual(
        seen.filter((e) => e.vmId === id).map((e) => e.type === 'state' && e.state),
        ['STARTING', 'RUNNING', 'STOPPING', 'STOPPED'],
      );
    } finally {
      if (service.knows(id) && service.state(id) !== 'STOPPED') await service.stop(id).catch(() => undefined); // a QEMU outlives close()
      await moduleRef.close();
      dir.cleanup();
    }
  });

  it("'qemu' runs the qemu driver where QEMU is installed, else stops the start with a clear error", async () => {
    if (!detectQemu().available || process.platform !== 'linux') {
      await assert.rejects(start('qemu'), (e: unknown) => e instanceof DriverUnavailableError && /qemu/.test(e.message));
      return;
    }
    const { moduleRef, service } = await start('qemu');
    try {
      assert.equal(service.driverName, 'qemu');
      assert.equal(service.healthInfo().simulated, false);
      assert.match(service.healthInfo().accelerator ?? '', /^(kvm|tcg)$/);
    } finally {
      await moduleRef.close();
    }
  });

  it('a missing library stops the start with an error naming the path', async () => {
    process.env.VELOCITY_NATIVE_LIB = '/nonexistent/libvelocity_sim.so';
    await assert.rejects(
      start('sim'),
      (e: unknown) => e instanceof NativeLibraryNotFoundError && e.message.includes('/nonexistent/libvelocity_sim.so'),
    );
  });

  it('a server restarted in the same process can define the same VM again', async () => {
    const dir = new ScratchDir();
    const id = vmId();
    try {
      for (let round = 0; round < 2; round++) {
        const { moduleRef, service } = await start('sim');
        await service.create(id, simConfig(dir, { sim: { time_scale: 0 } }));
        await service.start(id);
        await moduleRef.close(); // leaves the VM running: the driver forgets it
      }
    } finally {
      dir.cleanup();
    }
  });
});

const QEMU_CAPS: HostCapabilities = {
  driver: 'qemu',
  max_cpu_count: 4,
  max_memory_mb: 8192,
  min_memory_mb: 128,
  max_display_width: 3840,
  max_display_height: 2160,
  bridge_interfaces: [{ id: 'br0', name: 'br0', description: 'a bridge' }],
  rosetta: false,
  macos_guests: false,
  screenshots: true,
  vm_types: ['EFI', 'KBOOT'],
  accelerator: 'tcg',
};

/** A driver that runs nothing. Whatever a test does not set up fails when called. */
class FakeDriver implements HypervisorDriver {
  readonly description = '/opt/fake/qemu-system-x86_64, TCG: asked for';
  readonly emitted = new Subject<HypervisorEvent>();
  readonly events$ = this.emitted.asObservable();
  closes = 0;
  /** vmId → state, for state(); NOT_FOUND for any other VM. */
  readonly states = new Map<string, VmState>();

  constructor(
    readonly name: HostCapabilities['driver'],
    private readonly caps: HostCapabilities | Error,
  ) {}

  async capabilities(): Promise<HostCapabilities> {
    if (this.caps instanceof Error) throw this.caps;
    return this.caps;
  }

  state(vmId: string): VmState {
    const state = this.states.get(vmId);
    if (!state) throw new HypervisorError('NOT_FOUND', `VM ${vmId} not found`);
    return state;
  }

  async close(): Promise<void> {
    this.closes++;
  }

  create = unexpected('create');
  start = unexpected('start');
  pause = unexpected('pause');
  resume = unexpected('resume');
  requestStop = unexpected('requestStop');
  stop = unexpected('stop');
  captureDisplay = unexpected('captureDisplay');
  guestAddresses = unexpected('guestAddresses');
  openRemoteScreen = unexpected('openRemoteScreen');
  destroy = unexpected('destroy');
}

function unexpected(method: string): () => never {
  return () => assert.fail(`unexpected call of ${method}`);
}

describe('HypervisorService over a fake driver', () => {
  afterEach(() => Logger.overrideLogger(false));

  async function init(driver: FakeDriver): Promise<{ service: HypervisorService; logger: CapturingLogger }> {
    const logger = new CapturingLogger();
    Logger.overrideLogger(logger);
    const service = new HypervisorService(driver);
    await service.onModuleInit();
    return { service, logger };
  }

  it('reports the driver, its accelerator and its capabilities without host details, and logs its description', async () => {
    const { service, logger } = await init(new FakeDriver('qemu', QEMU_CAPS));
    assert.equal(service.driverName, 'qemu');
    assert.equal(service.capabilities, QEMU_CAPS);
    assert.deepEqual(service.healthInfo(), {
      driver: 'qemu',
      simulated: false,
      accelerator: 'tcg',
      capabilities: { max_cpu_count: 4, max_memory_mb: 8192, vm_types: ['EFI', 'KBOOT'], screenshots: true, macos_guests: false, rosetta: false },
    });
    assert.ok(
      logger.lines.some((l) => l.level === 'log' && l.message.includes('hypervisor driver qemu (/opt/fake/qemu-system-x86_64, TCG: asked for)')),
      JSON.stringify(logger.lines),
    );
  });

  it('a driver without an accelerator has none in the health answer; sim is simulated', async () => {
    const { service } = await init(new FakeDriver('sim', { ...QEMU_CAPS, driver: 'sim', accelerator: undefined }));
    const health = service.healthInfo();
    assert.equal(health.simulated, true);
    assert.ok(!('accelerator' in health));
  });

  it('forwards events, knows the VMs the driver knows, and closes the driver on module destroy', async () => {
    const driver = new FakeDriver('qemu', QEMU_CAPS);
    const { service } = await init(driver);
    const seen: HypervisorEvent[] = [];
    const sub = service.events$.subscribe((e) => seen.push(e));
    const event: HypervisorEvent = { type: 'state', vmId: 'a', state: 'RUNNING', seq: 1 };
    driver.emitted.next(event);
    assert.deepEqual(seen, [event]);
    driver.states.set('a', 'RUNNING');
    assert.equal(service.knows('a'), true);
    assert.equal(service.knows('b'), false);
    await service.onModuleDestroy();
    assert.equal(driver.closes, 1);
    driver.emitted.next({ ...event, seq: 2 });
    assert.equal(seen.length, 1, 'no events after destroy');
    sub.unsubscribe();
  });

  it('a driver that cannot tell its capabilities is closed, and the start fails', async () => {
    const driver = new FakeDriver('qemu', new HypervisorError('HYPERVISOR_ERROR', 'no capabilities'));
    await assert.rejects(init(driver), /no capabilities/);
    assert.equal(driver.closes, 1);
  });
});

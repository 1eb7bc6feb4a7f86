import assert from 'node:assert/strict';
import { LoggerService, Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { afterEach, describe, it } from 'node:test';
import { AppConfig, loadConfig } from '../../src/config/app-config';
import { ConfigModule } from '../../src/config/config.module';
import { nativeLibraryPath, selectDriver } from '../../src/hypervisor/driver-selection';
import { HypervisorEvent } from '../../src/hypervisor/hypervisor-driver';
import { DriverUnavailableError, NativeLibraryNotFoundError } from '../../src/hypervisor/hypervisor.errors';
import { HypervisorModule } from '../../src/hypervisor/hypervisor.module';
import { HypervisorService } from '../../src/hypervisor/hypervisor.service';
import { SIM_LIBRARY, simConfig, TempDir, vmId } from './sim-fixture';

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

describe('driver selection', () => {
  it('auto picks vz on macOS and the simulator (with a warning) elsewhere', () => {
    assert.deepEqual(selectDriver('auto', 'darwin'), { driver: 'vz' });
    const linux = selectDriver('auto', 'linux');
    assert.equal(linux.driver, 'sim');
    assert.match(linux.warning ?? '', /simulat/);
  });

  it('sim and vz can be chosen explicitly; vz only on macOS', () => {
    assert.deepEqual(selectDriver('sim', 'linux'), { driver: 'sim' });
    assert.deepEqual(selectDriver('vz', 'darwin'), { driver: 'vz' });
    assert.throws(() => selectDriver('vz', 'linux'), (e: unknown) => e instanceof DriverUnavailableError && /macOS/.test(e.message));
  });

  it('qemu is a clear startup error until the driver exists', () => {
    assert.throws(
      () => selectDriver('qemu', 'linux'),
      (e: unknown) => e instanceof DriverUnavailableError && /qemu driver is not implemented yet/.test(e.message),
    );
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

  it('auto on this (non-macOS) host runs the sim driver, logs a warning and serves VMs', { skip: process.platform === 'darwin' }, async () => {
    const { moduleRef, logger, service } = await start('auto');
    const dir = new TempDir();
    try {
      assert.equal(service.driverName, 'sim');
      assert.ok(logger.lines.some((l) => l.level === 'warn' && /simulator/.test(l.message)), JSON.stringify(logger.lines));
      assert.equal(service.capabilities.driver, 'sim');
      const health = service.healthInfo();
      assert.equal(health.driver, 'sim');
      assert.equal(health.simulated, true);
      assert.deepEqual(health.capabilities.vm_types, ['EFI', 'KBOOT']);
      assert.ok(!('bridge_interfaces' in health.capabilities), 'no host details in the health answer');

      const seen: HypervisorEvent[] = [];
      const sub = service.events$.subscribe((e) => seen.push(e));
      const id = vmId();
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
      await moduleRef.close();
      dir.cleanup();
    }
  });

  it("'qemu' stops the start with a clear error", async () => {
    await assert.rejects(start('qemu'), (e: unknown) => e instanceof DriverUnavailableError && /not implemented yet/.test(e.message));
  });

  it('a missing library stops the start with an error naming the path', async () => {
    process.env.VELOCITY_NATIVE_LIB = '/nonexistent/libvelocity_sim.so';
    await assert.rejects(
      start('sim'),
      (e: unknown) => e instanceof NativeLibraryNotFoundError && e.message.includes('/nonexistent/libvelocity_sim.so'),
    );
  });

  it('a server restarted in the same process can define the same VM again', async () => {
    const dir = new TempDir();
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

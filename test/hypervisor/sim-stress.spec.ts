import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { NativeHypervisorDriver } from '../../src/hypervisor/drivers/native.driver';
import { HypervisorEvent, VmConfig } from '../../src/hypervisor/hypervisor-driver';
import { ScratchDir } from '../support/scratch-dir';
import { SIM_LIBRARY, simConfig, vmId } from './sim-fixture';

/** A full collection (global.gc when node runs with --expose-gc, else enabled here). */
function collectGarbage(): void {
  let gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
  gc();
}

const mib = (bytes: number) => bytes / (1024 * 1024);

describe('sim under load', () => {
  let driver: NativeHypervisorDriver;
  let dir: ScratchDir;
  const events: HypervisorEvent[] = [];

  before(() => {
    driver = NativeHypervisorDriver.open('sim', SIM_LIBRARY);
    dir = new ScratchDir();
  });
  after(async () => {
    await driver.close();
    dir.cleanup();
  });

  it('10,000 create/start/stop/destroy cycles do not grow memory', async () => {
    const workers = 8;
    const configs: VmConfig[] = [];
    for (let w = 0; w < workers; w++) configs.push(simConfig(dir, { sim: { time_scale: 0 } }, `worker${w}`));
    const cycle = async (config: VmConfig) => {
      const id = vmId();
      await driver.create(id, config);
      await driver.start(id);
      await driver.stop(id);
      await driver.destroy(id);
    };
    const run = async (cycles: number) => {
      let next = 0;
      await Promise.all(
        configs.map(async (config) => {
          while (next < cycles) {
            next++;
            await cycle(config);
          }
        }),
      );
    };
    const sub = driver.events$.subscribe(() => undefined);
    const warmUp = 500;
    await run(warmUp);
    collectGarbage();
    const before = process.memoryUsage();
    const t0 = Date.now();
    await run(10_000);
    const ms = Date.now() - t0;
    collectGarbage();
    const now = process.memoryUsage();
    sub.unsubscribe();
    const growth = mib(now.rss - before.rss);
    // Outside the V8 heap (whose young generation grows under allocation pressure and
    // then stays): native memory of the library, koffi and libc.
    const nativeGrowth = mib(now.rss - now.heapTotal - (before.rss - before.heapTotal));
    console.log(
      `# 10,000 cycles in ${ms} ms; after ${warmUp} warm-up cycles RSS grew ${growth.toFixed(1)} MiB, ` +
        `${nativeGrowth.toFixed(1)} MiB of it outside the V8 heap`,
    );
    assert.ok(growth < 30, `RSS grew by ${growth.toFixed(1)} MiB`);
    assert.ok(nativeGrowth < 8, `memory outside the V8 heap grew by ${nativeGrowth.toFixed(1)} MiB`);
  });

  it('200 VMs transition at once, each with its own ordered events', async () => {
    const sub = driver.events$.subscribe((e) => events.push(e));
    const ids = Array.from({ length: 200 }, () => vmId());
    const config = simConfig(dir, { sim: { time_scale: 0.05 } }, 'crowd');
    await Promise.all(ids.map((id) => driver.create(id, config)));
    await Promise.all(ids.map((id) => driver.start(id)));
    assert.ok(ids.every((id) => driver.state(id) === 'RUNNING'));
    await Promise.all(ids.map((id) => driver.pause(id)));
    await Promise.all(ids.map((id) => driver.resume(id)));
    await Promise.all(ids.map((id, i) => (i % 2 ? driver.stop(id) : driver.requestStop(id))));
    assert.ok(ids.every((id) => driver.state(id) === 'STOPPED'));
    await Promise.all(ids.map((id) => driver.destroy(id)));
    sub.unsubscribe();
    const expected = ['STARTING', 'RUNNING', 'PAUSING', 'PAUSED', 'RESUMING', 'RUNNING', 'STOPPING', 'STOPPED'];
    for (const id of ids) {
      const mine = events.filter((e) => e.vmId === id);
      assert.deepEqual(mine.map((e) => e.type === 'state' && e.state), expected, id);
    }
    const seqs = events.map((e) => e.seq ?? 0);
    assert.ok(seqs.every((s, i) => i === 0 || s > seqs[i - 1]), 'events arrive in seq order');
  });
});

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { findRepoRoot } from '../../src/hypervisor/driver-selection';
import { VmConfig } from '../../src/hypervisor/hypervisor-driver';
import { NativeEvent, NativeHypervisorBinding } from '../../src/hypervisor/native/native-binding';
import { ScratchDir } from '../support/scratch-dir';

/** Helpers of the sim and native-binding tests: the built sim libraries, configs, events. */

const root = findRepoRoot(__dirname);
const ext = process.platform === 'darwin' ? 'dylib' : 'so';
export const SIM_LIBRARY = join(root, 'native-bridge', 'build', `libvelocity_sim.${ext}`);
export const BAD_ABI_LIBRARY = join(root, 'native-bridge', 'build', 'test', `libvelocity_sim_badabi.${ext}`);

if (!existsSync(SIM_LIBRARY) || !existsSync(BAD_ABI_LIBRARY)) {
  throw new Error(`the sim library is not built (${SIM_LIBRARY}): run "node native-bridge/build.js"`);
}

let counter = 0;
/** A fresh VM id (UUID-shaped, unique in this process). */
export function vmId(): string {
  counter++;
  return `00000000-0000-4000-8000-${counter.toString(16).padStart(12, '0')}`;
}

/** A valid EFI configuration inside `dir`, with overrides. */
export function simConfig(dir: ScratchDir, overrides: Partial<VmConfig> = {}, consoleName = 'console'): VmConfig {
  const input = existsSync(dir.file(`${consoleName}.in`)) ? dir.file(`${consoleName}.in`) : dir.fifo(`${consoleName}.in`);
  return {
    name: 'test-vm',
    type: 'EFI',
    cpu_count: 1,
    memory_size_mb: 512,
    directory: dir.path,
    console: { output: dir.file(`${consoleName}.log`), input },
    disks: [],
    nics: [{ type: 'NAT', mac: '52:54:00:12:34:56' }],
    displays: [{ width: 320, height: 240 }],
    rosetta: false,
    sim: { time_scale: 0.05 },
    ...overrides,
  };
}

/** Records every event of a binding and lets a test wait for one. */
export class EventRecorder {
  readonly events: NativeEvent[] = [];
  private waiters: { predicate: (e: NativeEvent) => boolean; resolve: (e: NativeEvent) => void }[] = [];
  private readonly stop: () => void;

  constructor(binding: NativeHypervisorBinding) {
    this.stop = binding.onEvent((event) => {
      this.events.push(event);
      this.waiters = this.waiters.filter((w) => {
        if (!w.predicate(event)) return true;
        w.resolve(event);
        return false;
      });
    });
  }

  forVm(vm: string): NativeEvent[] {
    return this.events.filter((e) => e.vm_id === vm);
  }

  /** Resolves with the first event (already seen or future) matching the predicate. */
  waitFor(predicate: (e: NativeEvent) => boolean, timeoutMs = 5000, what = 'an event'): Promise<NativeEvent> {
    const seen = this.events.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
      this.waiters.push({
        predicate,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      });
    });
  }

  waitForOp(opId: number, timeoutMs = 5000): Promise<NativeEvent> {
    return this.waitFor((e) => e.type === 'op' && e.op_id === opId, timeoutMs, `op ${opId}`);
  }

  dispose(): void {
    this.stop();
  }
}

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { findRepoRoot } from '../../src/hypervisor/driver-selection';
import { VmConfig } from '../../src/hypervisor/hypervisor-driver';
import { NativeEvent, NativeHypervisorBinding } from '../../src/hypervisor/native/native-binding';

/** Helpers shared by the hypervisor tests: the built sim libraries, temp dirs, configs, events. */

const root = findRepoRoot(__dirname);
const ext = process.platform === 'darwin' ? 'dylib' : 'so';
export const SIM_LIBRARY = join(root, 'native-bridge', 'build', `libvelocity_sim.${ext}`);
export const BAD_ABI_LIBRARY = join(root, 'native-bridge', 'build', 'test', `libvelocity_sim_badabi.${ext}`);

if (!existsSync(SIM_LIBRARY) || !existsSync(BAD_ABI_LIBRARY)) {
  throw new Error(`the sim library is not built (${SIM_LIBRARY}): run "node native-bridge/build.js"`);
}

/** A temporary directory under os.tmpdir(), removed by cleanup(). */
export class TempDir {
  readonly path = mkdtempSync(join(tmpdir(), 'velocity-hv-test-'));

  file(name: string): string {
    return join(this.path, name);
  }

  /** Creates a FIFO (as the server does for console input) and returns its path. */
  fifo(name: string): string {
    const path = this.file(name);
    execFileSync('mkfifo', ['-m', '600', path]);
    return path;
  }

  cleanup(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}

let counter = 0;
/** A fresh VM id (UUID-shaped, unique in this process). */
export function vmId(): string {
  counter++;
  return `00000000-0000-4000-8000-${counter.toString(16).padStart(12, '0')}`;
}

/** A valid EFI configuration inside `dir`, with overrides. */
export function simConfig(dir: TempDir, overrides: Partial<VmConfig> = {}, consoleName = 'console'): VmConfig {
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

/**
 * Rejects if `promise` takes longer than `ms`. The timer also keeps the event loop alive:
 * native events reach JS through an unreferenced handle, so a bare await on an event
 * no operation waits for would let the test runner see an empty loop.
 */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls until `check` returns true (for files written by native threads). */
export async function eventually(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

export interface DecodedPng {
  width: number;
  height: number;
  bitDepth: number;
  colourType: number;
  /** RGB samples, filter bytes removed (only filter 0 is accepted). */
  rgb: Buffer;
}

/** A strict little PNG decoder for what ppm.ts writes (checks signature, CRCs, filter 0). */
export function decodePng(png: Buffer, crc32: (...parts: Buffer[]) => number): DecodedPng {
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  if (!png.subarray(0, 8).equals(signature)) throw new Error('bad PNG signature');
  let pos = 8;
  let ihdr: Buffer | undefined;
  const idat: Buffer[] = [];
  let sawEnd = false;
  while (pos < png.length) {
    const length = png.readUInt32BE(pos);
    const type = png.subarray(pos + 4, pos + 8);
    const body = png.subarray(pos + 8, pos + 8 + length);
    const crc = png.readUInt32BE(pos + 8 + length);
    if (crc !== crc32(type, body)) throw new Error(`bad CRC in ${type.toString('latin1')} chunk`);
    const name = type.toString('latin1');
    if (name === 'IHDR') ihdr = body;
    else if (name === 'IDAT') idat.push(body);
    else if (name === 'IEND') sawEnd = true;
    pos += 12 + length;
  }
  if (!ihdr || !sawEnd || idat.length === 0) throw new Error('PNG lacks IHDR, IDAT or IEND');
  const width = ihdr.readUInt32BE(0);
  const height = ihdr.readUInt32BE(4);
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * 3;
  if (raw.length !== (stride + 1) * height) throw new Error(`IDAT holds ${raw.length} bytes, expected ${(stride + 1) * height}`);
  const rgb = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    if (raw[y * (stride + 1)] !== 0) throw new Error(`row ${y} uses filter ${raw[y * (stride + 1)]}`);
    raw.copy(rgb, y * stride, y * (stride + 1) + 1, (y + 1) * (stride + 1));
  }
  return { width, height, bitDepth: ihdr[8], colourType: ihdr[9], rgb };
}

import { Injectable, Logger } from '@nestjs/common';
import * as koffi from 'koffi';
import { statSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { libc } from '../common/libc';
import { AppConfig } from '../config/app-config';

type Mkfifo = (path: string, mode: number) => number;
let mkfifoCall: Mkfifo | undefined;

/**
 * libc's mkfifo. Node has none; running coreutils' mkfifo cost a process spawn (~30 ms,
 * inside the creating transaction) per VM created and per VM defined at start.
 */
function mkfifo(path: string, mode: number): void {
  // mode_t is 32 bits on Linux, 16 on macOS.
  mkfifoCall ??= libc('console FIFOs').func(`int mkfifo(const char *path, ${process.platform === 'darwin' ? 'uint16_t' : 'uint32_t'} mode)`) as Mkfifo;
  if (mkfifoCall(path, mode) !== 0) throw new Error(`mkfifo ${path} failed with errno ${koffi.errno()}`);
}

/**
 * A VM's own directory under the data directory: the hypervisor's files (EFI variable
 * store, machine identifier …), the serial console's output file and input FIFO.
 */
@Injectable()
export class VmFiles {
  private readonly logger = new Logger('VmFiles');
  private readonly root: string;

  constructor(config: AppConfig) {
    this.root = join(config.dataDir, 'vms');
  }

  directory(vmid: string): string {
    return join(this.root, vmid);
  }

  consoleOutput(vmid: string): string {
    return join(this.directory(vmid), 'console.log');
  }

  consoleInput(vmid: string): string {
    return join(this.directory(vmid), 'console.in');
  }

  /**
   * Creates the directory and the console FIFO where they are missing. Looks for the FIFO
   * first: at start every stored VM has both, and one look each is what 10,000 VMs cost.
   * The look is synchronous: one stat costs less than its trip through the thread pool
   * (at start with 10,000 VMs, 0.6 s of the event loop's time).
   */
  async prepare(vmid: string): Promise<void> {
    const fifo = this.consoleInput(vmid);
    const existing = statSync(fifo, { throwIfNoEntry: false });
    if (existing?.isFIFO()) return;
    await mkdir(this.directory(vmid), { recursive: true });
    if (existing) await rm(fifo, { force: true });
    mkfifo(fifo, 0o600);
  }

  async remove(vmid: string): Promise<void> {
    await rm(this.directory(vmid), { recursive: true, force: true });
  }

  /** At start: removes the directories of VMs that have no row (a crash cut their deletion or creation short). */
  async removeAllBut(vmids: string[]): Promise<void> {
    await mkdir(this.root, { recursive: true });
    const known = new Set(vmids);
    for (const name of await readdir(this.root)) {
      if (known.has(name)) continue;
      await rm(join(this.root, name), { recursive: true, force: true });
      this.logger.warn(`removed ${join(this.root, name)}: no VM row names it (left by a crash)`);
    }
  }
}

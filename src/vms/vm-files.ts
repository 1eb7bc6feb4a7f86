import { Injectable, Logger } from '@nestjs/common';
import { execFile } from 'node:child_process';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AppConfig } from '../config/app-config';

const execFileAsync = promisify(execFile);

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

  /** Creates the directory and the console FIFO (Node has no mkfifo; coreutils does). */
  async prepare(vmid: string): Promise<void> {
    await mkdir(this.directory(vmid), { recursive: true });
    const fifo = this.consoleInput(vmid);
    const existing = await stat(fifo).catch(() => null);
    if (existing?.isFIFO()) return;
    if (existing) await rm(fifo, { force: true });
    await execFileAsync('mkfifo', ['-m', '600', fifo]);
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

import { Injectable } from '@nestjs/common';
import { constants } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { ApiError } from '../common/errors/api-error';
import { VmFiles } from './vm-files';

const FOLLOW_INTERVAL_MS = 100;

/**
 * The serial console: the driver appends guest output to a file and reads guest input from
 * a FIFO in the VM's directory; this service reads the one and writes the other.
 */
@Injectable()
export class VmConsoleService {
  constructor(private readonly files: VmFiles) {}

  /** The last `bytes` of output, and the total size so far. */
  async tail(vmid: string, bytes: number): Promise<{ output: Buffer; size: number }> {
    const path = this.files.consoleOutput(vmid);
    const size = (await stat(path).catch(() => null))?.size ?? 0;
    const start = Math.max(0, size - bytes);
    return { output: await this.read(path, start, size), size };
  }

  /** Types `data` on the console; 409 when no guest is reading (the VM is not running). */
  async write(vmid: string, data: Buffer): Promise<void> {
    let handle;
    try {
      // Non-blocking: opening a FIFO nobody reads fails at once (ENXIO) instead of hanging.
      handle = await open(this.files.consoleInput(vmid), constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENXIO' || code === 'ENOENT') throw new ApiError('VM_NOT_RUNNING', 'The VM is not running: nothing reads its console');
      throw error;
    }
    try {
      await handle.write(data);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') throw new ApiError('VM_NOT_RUNNING', 'The console input is full; the guest is not reading it');
      throw error;
    } finally {
      await handle.close();
    }
  }

  /** Calls `onData` with output written after `offset`, until the returned function is called. */
  follow(vmid: string, offset: number, onData: (chunk: Buffer) => void): () => void {
    const path = this.files.consoleOutput(vmid);
    let position = offset;
    let busy = false;
    const timer = setInterval(async () => {
      if (busy) return;
      busy = true;
      try {
        const size = (await stat(path).catch(() => null))?.size ?? 0;
        if (size < position) position = 0; // the file was recreated
        if (size > position) {
          const chunk = await this.read(path, position, size);
          position = size;
          onData(chunk);
        }
      } finally {
        busy = false;
      }
    }, FOLLOW_INTERVAL_MS);
    return () => clearInterval(timer);
  }

  private async read(path: string, start: number, end: number): Promise<Buffer> {
    if (end <= start) return Buffer.alloc(0);
    const handle = await open(path, 'r');
    try {
      const buffer = Buffer.alloc(end - start);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, start);
      return buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  }
}

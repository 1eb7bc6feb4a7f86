import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A temporary directory for a test's files, removed by cleanup(). */
export class ScratchDir {
  readonly path: string;

  constructor(prefix = 'vt-') {
    // Short: Unix socket paths inside it (QMP, NIC sockets) must fit in 107 bytes.
    this.path = mkdtempSync(join(tmpdir(), prefix));
  }

  file(name: string): string {
    return join(this.path, name);
  }

  /** Creates a FIFO as the server does for console input (replacing what is there). */
  fifo(name: string): string {
    const path = this.file(name);
    rmSync(path, { force: true });
    execFileSync('mkfifo', ['-m', '600', path]);
    return path;
  }

  /** A sparse raw disk image of `mb` MiB. */
  blankDisk(name: string, mb: number): string {
    const path = this.file(name);
    closeSync(openSync(path, 'w'));
    truncateSync(path, mb * 1024 * 1024);
    return path;
  }

  cleanup(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}

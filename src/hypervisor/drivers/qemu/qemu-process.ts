import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { QmpClient, QmpConnectOptions } from './qmp-client';

/** Process and file helpers of the qemu driver (Linux: they read /proc). */

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** True while a process with this pid exists (a zombie counts until it is reaped). */
export function isPidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false; // 0 and -1 would address groups
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Sends a signal, ignoring a process that is already gone. */
export function signal(pid: number, sig: NodeJS.Signals): void {
  if (!Number.isInteger(pid) || pid <= 0) return; // never a process group, never "all processes"
  try {
    process.kill(pid, sig);
  } catch {
    // gone already
  }
}

/** Polls `check` every `intervalMs` until it is true (→ true) or `timeoutMs` passed (→ false). */
export async function pollUntil(check: () => boolean, timeoutMs: number, intervalMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (check()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(intervalMs);
  }
}

/** The pid in a pid file, or undefined when there is none or it is garbage. */
export async function readPidFile(path: string): Promise<number | undefined> {
  try {
    const text = (await readFile(path, 'utf8')).trim();
    return /^\d+$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

/** A process's argument vector from /proc, or undefined when it is gone. */
export async function readCmdline(pid: number): Promise<string[] | undefined> {
  try {
    const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return raw.split('\0').filter((a, i, all) => a !== '' || i < all.length - 1);
  } catch {
    return undefined;
  }
}

/** "dev:ino" of every file a process has open (through /proc/<pid>/fd). */
export async function openFileIds(pid: number): Promise<Set<string>> {
  const ids = new Set<string>();
  let fds: string[];
  try {
    fds = await readdir(`/proc/${pid}/fd`);
  } catch {
    return ids;
  }
  await Promise.all(
    fds.map(async (fd) => {
      try {
        const st = await stat(join(`/proc/${pid}/fd`, fd));
        ids.add(`${st.dev}:${st.ino}`);
      } catch {
        // closed meanwhile
      }
    }),
  );
  return ids;
}

export async function fileId(path: string): Promise<string | undefined> {
  try {
    const st = await stat(path);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/**
 * Connects to the QMP socket of a QEMU that is starting: retries while the socket does not
 * exist yet or refuses, until `timeoutMs` passes or `gone()` says the process has died.
 */
export async function connectWhenReady(
  path: string,
  timeoutMs: number,
  gone: () => boolean,
  options: QmpConnectOptions = {},
): Promise<QmpClient> {
  const deadline = Date.now() + timeoutMs;
  let lastError: Error | undefined;
  for (;;) {
    if (gone()) throw new Error('QEMU exited before its QMP socket answered');
    try {
      return await QmpClient.connect(path, { timeoutMs: Math.max(500, deadline - Date.now()), ...options });
    } catch (err) {
      lastError = err as Error;
    }
    if (Date.now() >= deadline) {
      throw new Error(`QEMU's QMP socket did not answer within ${timeoutMs} ms: ${lastError?.message ?? 'no attempt'}`);
    }
    await sleep(25);
  }
}

/** The last lines of a small log file, joined for a message (sync: called on exit paths). */
export function readTail(path: string, lines: number): string {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const size = fstatSync(fd).size;
    const length = Math.min(size, 4096);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    return buffer
      .toString('utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .slice(-lines)
      .join(' | ');
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

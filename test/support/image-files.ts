import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';

const MiB = 1024 * 1024;

/** Writes `bytes` of non-zero data (a pattern varying per MiB, so no two MiB are alike) at `offset`. */
export async function writeDataAt(path: string, offset: number, bytes: number): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    const chunk = Buffer.alloc(MiB);
    for (let done = 0; done < bytes; done += MiB) {
      const n = Math.min(MiB, bytes - done);
      for (let i = 0; i < n; i += 4) chunk.writeUInt32LE(((offset + done + i) * 2654435761) >>> 0 || 1, i);
      await handle.write(chunk, 0, n, offset + done);
    }
  } finally {
    await handle.close();
  }
}

/** SHA-256 of `length` bytes at `start`, read as a stream. */
export async function hashRange(path: string, start: number, length: number): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path, { start, end: start + length - 1 }), hash);
  return hash.digest('hex');
}

/** The bytes the filesystem has allocated to the file (holes take none). */
export async function allocatedBytes(path: string): Promise<number> {
  return (await stat(path)).blocks * 512;
}

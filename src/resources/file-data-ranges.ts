import * as koffi from 'koffi';
import { libc } from '../common/libc';

/**
 * Where a sparse file holds data, from libc's lseek(SEEK_DATA / SEEK_HOLE). Node has no
 * lseek, and reading a 64 GiB image of holes to find its few written blocks takes about a
 * minute and a half (86 s on ext4, skipping all-zero chunks); asking the filesystem takes
 * microseconds. Loaded through koffi like the
 * hypervisor library, and nothing outside this file sees koffi for it.
 */

/** The `whence` values, which differ between Linux and macOS. */
const WHENCE: Partial<Record<NodeJS.Platform, { seekData: number; seekHole: number }>> = {
  linux: { seekData: 3, seekHole: 4 },
  darwin: { seekData: 4, seekHole: 3 },
};

const ENXIO = koffi.os.errno.ENXIO;

interface Lseek {
  /** `off_t lseek(int fd, off_t offset, int whence)`; -1 with errno on failure. */
  seek(fd: number, offset: number, whence: number): number;
  seekData: number;
  seekHole: number;
}

let loaded: Lseek | undefined;

/** Binds lseek on first use, so a host without it fails a sparse copy, not the server's start. */
function lseek(): Lseek {
  if (loaded) return loaded;
  const whence = WHENCE[process.platform];
  if (!whence) throw new Error(`sparse copies need lseek(SEEK_DATA), which Velocity binds on Linux and macOS only, not ${process.platform}`);
  const fn = libc('sparse copies').func('int64_t lseek(int fd, int64_t offset, int whence)');
  loaded = { seek: (fd, offset, whence) => Number(fn(fd, offset, whence)), ...whence };
  return loaded;
}

export interface DataRange {
  start: number;
  end: number;
}

/**
 * The ranges of the open file `fd` (of `size` bytes) that hold data, in order; holes are
 * left out. A filesystem without hole tracking reports the whole file as one range. The
 * ranges are asked for one at a time, so a caller copying them sees the file as it is.
 */
export function* dataRanges(fd: number, size: number): Generator<DataRange> {
  const { seek, seekData, seekHole } = lseek();
  let offset = 0;
  while (offset < size) {
    const start = seek(fd, offset, seekData);
    if (start < 0) {
      if (koffi.errno() === ENXIO) return; // nothing but holes from `offset` to the end
      throw new Error(`lseek(SEEK_DATA) failed with errno ${koffi.errno()}`);
    }
    if (start >= size) return; // the file grew after `size` was taken
    const end = seek(fd, start, seekHole);
    if (end < 0) throw new Error(`lseek(SEEK_HOLE) failed with errno ${koffi.errno()}`);
    yield { start, end: Math.min(end, size) };
    offset = end;
  }
}

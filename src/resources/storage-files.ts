import { Injectable, Logger } from '@nestjs/common';
import { FileHandle, mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { AppConfig } from '../config/app-config';
import type { StorageEntity } from './entities/storage.entity';

type ImageName = Pick<StorageEntity, 'stid' | 'format'>;

const MIB = 1024 * 1024;

/** The file is larger than the filesystem holding the data directory takes. */
export class FileTooLargeError extends Error {
  constructor(readonly largestBytes: number) {
    super(`the filesystem takes files of at most ${Math.floor(largestBytes / MIB)} MiB`);
  }
}

/**
 * Image files under `<data dir>/storage/`: `<stid>.img` or `<stid>.iso` once complete,
 * `.<stid>.part` while being written. A file gets its final name only after its row is
 * committed, so a crash leaves at most a partial file, which the start-time sweep either
 * completes (its row was committed) or removes (it was not).
 */
@Injectable()
export class StorageFiles {
  private readonly logger = new Logger('Storage');
  readonly directory: string;

  constructor(config: AppConfig) {
    this.directory = join(config.dataDir, 'storage');
  }

  /** Where an image lives: always under the data directory, named by its id. */
  pathOf(image: ImageName): string {
    return join(this.directory, `${image.stid}.${image.format === 'iso' ? 'iso' : 'img'}`);
  }

  partialPathOf(stid: string): string {
    return join(this.directory, `.${stid}.part`);
  }

  /** A sparse partial file of `bytes`; FileTooLargeError naming the real limit where the filesystem refuses. */
  async createSparsePartial(stid: string, bytes: number): Promise<string> {
    const path = this.partialPathOf(stid);
    const handle = await open(path, 'wx');
    try {
      await handle.truncate(bytes);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EFBIG') throw error;
      throw new FileTooLargeError(await largestSize(handle, bytes));
    } finally {
      await handle.close();
    }
    return path;
  }

  /** Gives a partial file whose row is committed its final name. */
  async complete(image: ImageName): Promise<void> {
    await rename(this.partialPathOf(image.stid), this.pathOf(image));
  }

  async remove(image: ImageName): Promise<void> {
    await rm(this.pathOf(image), { force: true });
  }

  async removePartial(stid: string): Promise<void> {
    await rm(this.partialPathOf(stid), { force: true });
  }

  /**
   * At start, makes the directory match the rows: a partial file of a committed image gets
   * its final name (a crash came between commit and rename); every other file no row names
   * is removed. Logs what it did.
   */
  async reconcile(images: ImageName[]): Promise<void> {
    await mkdir(this.directory, { recursive: true });
    const byStid = new Map(images.map((image) => [image.stid, image]));
    const expected = new Set(images.map((image) => this.pathOf(image)));
    for (const name of await readdir(this.directory)) {
      const path = join(this.directory, name);
      if (expected.has(path)) continue;
      const committed = byStid.get(/^\.(.+)\.part$/.exec(name)?.[1] ?? '');
      if (committed) {
        await this.complete(committed);
        this.logger.warn(`storage ${committed.stid}: completed an image whose rename a crash cut off`);
      } else {
        await rm(path, { recursive: true, force: true });
        this.logger.warn(`removed ${path}: no storage row names it (left by a crash or an interrupted upload)`);
      }
    }
  }
}

/** The largest size the filesystem lets this file have, to the MiB (a binary search of truncates). */
async function largestSize(handle: FileHandle, tooLarge: number): Promise<number> {
  let fits = 0;
  let refused = tooLarge;
  while (refused - fits > MIB) {
    const probe = fits + Math.max(MIB, Math.floor((refused - fits) / 2 / MIB) * MIB);
    try {
      await handle.truncate(probe);
      fits = probe;
    } catch {
      refused = probe;
    }
  }
  await handle.truncate(0);
  return fits;
}

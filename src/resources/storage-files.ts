import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, FileHandle, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AppConfig } from '../config/app-config';
import type { StorageEntity } from './entities/storage.entity';
import { dataRanges } from './file-data-ranges';

type ImageName = Pick<StorageEntity, 'stid' | 'format'>;

const MIB = 1024 * 1024;

/** What a sparse copy reads and writes at a time: the only memory a clone holds. */
const COPY_CHUNK_BYTES = 4 * MIB;

/**
 * How FICLONE (Linux) and clonefile (macOS) say that the filesystem cannot share blocks
 * between these files (ext4, HFS+, tmpfs, different mounts, files btrfs will not reflink).
 */
const CLONE_UNSUPPORTED = new Set(['ENOTSUP', 'EOPNOTSUPP', 'EINVAL', 'EXDEV', 'ENOSYS']);

/** A cloned image's partial file. */
export interface ClonedFile {
  /** True where the clone shares the source's blocks (copy-on-write), false for a sparse copy. */
  cow: boolean;
  sizeBytes: number;
}

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
 *
 * With VELOCITY_SHARED_STORAGE_DIR the files are in that directory, which every node of the
 * cluster mounts. Other nodes write there at the same time, so a partial file carries its
 * node's name (`.<stid>.<node>.part`) and the sweep touches this node's partial files only:
 * a file another node is writing, or has just completed, is never taken for debris.
 */
@Injectable()
export class StorageFiles {
  private readonly logger = new Logger('Storage');
  readonly directory: string;

  /** Set when the directory is shared by the nodes of a cluster: the partial files' suffix. */
  private readonly sharedBy: string | undefined;

  constructor(config: AppConfig) {
    this.directory = config.sharedStorageDir ?? join(config.dataDir, 'storage');
    this.sharedBy = config.sharedStorageDir ? config.nodeName : undefined;
  }

  /** Where an image lives: always under the data directory, named by its id. */
  pathOf(image: ImageName): string {
    return join(this.directory, `${image.stid}.${image.format === 'iso' ? 'iso' : 'img'}`);
  }

  partialPathOf(stid: string): string {
    return join(this.directory, this.sharedBy ? `.${stid}.${this.sharedBy}.part` : `.${stid}.part`);
  }

  /** A sparse partial file of `bytes`; FileTooLargeError naming the real limit where the filesystem refuses. */
  async createSparsePartial(stid: string, bytes: number): Promise<string> {
    const path = this.partialPathOf(stid);
    await this.setSize(path, 'wx', bytes);
    return path;
  }

  /** Grows a complete image to `bytes` with a hole at its end; FileTooLargeError as for a blank image. */
  async grow(image: ImageName, bytes: number): Promise<void> {
    await this.setSize(this.pathOf(image), 'r+', bytes);
  }

  /**
   * Copies `source`'s file to the partial file of a new image `stid`: copy-on-write where the
   * filesystem shares blocks between files, else a copy of the data ranges only, so holes stay
   * holes and a mostly blank image copies in the time its data takes. On failure no partial
   * file is left.
   */
  async clonePartial(source: ImageName, stid: string): Promise<ClonedFile> {
    const from = this.pathOf(source);
    const to = this.partialPathOf(stid);
    try {
      let cow = true;
      try {
        // FICLONE_FORCE rather than FICLONE: the latter falls back to a plain copy on its own,
        // one that fills the holes in and does not tell whether blocks are shared.
        await copyFile(from, to, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE_FORCE);
      } catch (error) {
        if (!CLONE_UNSUPPORTED.has((error as NodeJS.ErrnoException).code ?? '')) throw error;
        cow = false;
        await rm(to, { force: true });
        await copySparse(from, to);
      }
      return { cow, sizeBytes: (await stat(to)).size };
    } catch (error) {
      await this.removePartial(stid);
      throw error;
    }
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

  /** Sets a file's size without writing blocks; FileTooLargeError naming the real limit where the filesystem refuses. */
  private async setSize(path: string, flags: 'wx' | 'r+', bytes: number): Promise<void> {
    const handle = await open(path, flags);
    try {
      await handle.truncate(bytes);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EFBIG') throw error;
      throw new FileTooLargeError(await this.largestSize(bytes));
    } finally {
      await handle.close();
    }
  }

  /**
   * The largest size the filesystem lets a file have, to the MiB: a binary search of
   * truncates on a scratch partial file (never on an image; the start-time sweep removes
   * it if a crash leaves it).
   */
  private async largestSize(tooLarge: number): Promise<number> {
    const scratch = this.partialPathOf(randomUUID());
    const handle = await open(scratch, 'wx');
    try {
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
      return fits;
    } finally {
      await handle.close();
      await rm(scratch, { force: true });
    }
  }

  /**
   * At start, makes the directory match the rows: a partial file of a committed image gets
   * its final name (a crash came between commit and rename); every other file no row names
   * is removed. In a shared directory only this node's partial files are looked at. Logs what it did.
   */
  async reconcile(images: ImageName[]): Promise<void> {
    await mkdir(this.directory, { recursive: true });
    const byStid = new Map(images.map((image) => [image.stid, image]));
    const expected = new Set(images.map((image) => this.pathOf(image)));
    const ownPartial = this.sharedBy ? new RegExp(`^\\.([^.]+)\\.${this.sharedBy.replace(/[.]/g, '\\.')}\\.part$`) : /^\.(.+)\.part$/;
    for (const name of await readdir(this.directory)) {
      const path = join(this.directory, name);
      if (expected.has(path)) continue;
      const stid = ownPartial.exec(name)?.[1];
      // In a shared directory, what is not this node's partial file is another node's business.
      if (this.sharedBy && stid === undefined) continue;
      const committed = byStid.get(stid ?? '');
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

/** Copies the data ranges of `from` to the new file `to` at the same offsets; the holes stay holes. */
async function copySparse(from: string, to: string): Promise<void> {
  const source = await open(from, 'r');
  try {
    const target = await open(to, 'wx');
    try {
      const { size } = await source.stat();
      const chunk = Buffer.allocUnsafe(COPY_CHUNK_BYTES);
      for (const { start, end } of dataRanges(source.fd, size)) {
        for (let position = start; position < end; ) {
          const { bytesRead } = await source.read(chunk, 0, Math.min(chunk.length, end - position), position);
          if (bytesRead === 0) break; // the file shrank while being copied
          await writeAll(target, chunk.subarray(0, bytesRead), position);
          position += bytesRead;
        }
      }
      await target.truncate(size); // a trailing hole is not a data range
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
}

async function writeAll(handle: FileHandle, data: Buffer, position: number): Promise<void> {
  for (let written = 0; written < data.length; ) {
    written += (await handle.write(data, written, data.length - written, position + written)).bytesWritten;
  }
}

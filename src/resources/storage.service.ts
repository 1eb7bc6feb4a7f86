import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { In, Repository } from 'typeorm';
import { ApiError } from '../common/errors/api-error';
import { AppConfig } from '../config/app-config';
import { UnitOfWork } from '../database/unit-of-work';
import { AuthenticatedUser } from '../identity/auth/authenticated-user';
import { GroupEntity } from '../identity/entities/group.entity';
import { StorageEntity, StorageFormat } from './entities/storage.entity';
import { VmsRepository } from '../vms/vms.repository';
import { mayManageGroupResources } from './resource-access';
import { FileTooLargeError, StorageFiles } from './storage-files';

export interface StorageRequest {
  group: string;
  name: string;
}

export interface UploadRequest extends StorageRequest {
  format: StorageFormat;
  readOnly: boolean;
}

class UploadTooLarge extends Error {}

/** Disk images: blank sparse images, streamed uploads, listing and deletion. */
@Injectable()
export class StorageService implements OnModuleInit {
  constructor(
    @InjectRepository(StorageEntity) private readonly storage: Repository<StorageEntity>,
    private readonly unitOfWork: UnitOfWork,
    private readonly vms: VmsRepository,
    private readonly files: StorageFiles,
    private readonly config: AppConfig,
  ) {}

  /** Brings the image files in line with the rows after whatever stopped the last run. */
  async onModuleInit(): Promise<void> {
    await this.files.reconcile(await this.storage.find({ select: { stid: true, format: true } }));
  }

  /** Where an image lives: always under the data directory, named by its id. */
  pathOf(image: Pick<StorageEntity, 'stid' | 'format'>): string {
    return this.files.pathOf(image);
  }

  /** A blank raw image of `sizeBytes`, sparse: it takes no space until the guest writes. */
  async createBlank(caller: AuthenticatedUser, request: StorageRequest, sizeBytes: number): Promise<StorageEntity> {
    await this.assertGroup(caller, request.group);
    const image = this.storage.create({ stid: randomUUID(), name: request.name, gid: request.group, format: 'raw', readOnly: false, sizeBytes });
    try {
      await this.files.createSparsePartial(image.stid, sizeBytes);
      await this.unitOfWork.run((manager) => manager.save(image));
    } catch (error) {
      await this.files.removePartial(image.stid);
      if (error instanceof FileTooLargeError) {
        throw new ApiError('HOST_LIMIT_EXCEEDED', `size_mb ${sizeBytes / 2 ** 20} is too large for this host: ${error.message}`);
      }
      throw error;
    }
    await this.files.complete(image);
    return image;
  }

  /**
   * Streams a request body to a new image without holding it in memory. The body goes to a
   * partial file that becomes the image only when complete, within the limit and committed;
   * any failure before the commit removes it.
   */
  async upload(caller: AuthenticatedUser, request: UploadRequest, body: Readable, declaredLength?: number): Promise<StorageEntity> {
    await this.assertGroup(caller, request.group);
    const limit = this.config.uploadLimitBytes;
    if (declaredLength !== undefined && declaredLength > limit) throw this.tooLarge(limit);
    const image = this.storage.create({
      stid: randomUUID(),
      name: request.name,
      gid: request.group,
      format: request.format,
      readOnly: request.readOnly,
      sizeBytes: 0,
    });
    const partial = this.files.partialPathOf(image.stid);
    let received = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        received += chunk.length;
        callback(received > limit ? new UploadTooLarge() : null, chunk);
      },
    });
    // The request is piped in rather than made part of the pipeline: on an error the
    // pipeline destroys its streams, and destroying the request would close the socket
    // before the 413 could be sent.
    const written = pipeline(counter, createWriteStream(partial, { flags: 'wx' }));
    const abort = (error: Error) => counter.destroy(error);
    body.once('error', abort);
    body.once('aborted', () => abort(new Error('the client aborted the upload')));
    body.pipe(counter);
    try {
      await written;
      if (received === 0) throw new ApiError('VALIDATION_FAILED', 'Invalid request: the image is empty');
      image.sizeBytes = received;
      await this.unitOfWork.run((manager) => manager.save(image));
    } catch (error) {
      body.unpipe(counter);
      await this.files.removePartial(image.stid);
      if (error instanceof UploadTooLarge) throw this.tooLarge(limit);
      throw error;
    } finally {
      body.off('error', abort);
    }
    await this.files.complete(image);
    return image;
  }

  async get(caller: AuthenticatedUser, stid: string): Promise<StorageEntity> {
    const image = await this.storage.findOneBy({ stid });
    if (!image || !mayManageGroupResources(caller, image.gid)) {
      throw new ApiError('STORAGE_NOT_FOUND', `Storage ${stid} does not exist or is not visible to you`);
    }
    return image;
  }

  /** Images the caller may use, by name. */
  async list(caller: AuthenticatedUser, page: { limit: number; offset: number }): Promise<{ items: StorageEntity[]; total: number }> {
    const where = caller.hasRight('poolmanager') ? {} : { gid: In([...caller.groupIds]) };
    const [items, total] = await this.storage.findAndCount({ where, order: { name: 'ASC', stid: 'ASC' }, take: page.limit, skip: page.offset });
    return { items, total };
  }

  /**
   * Looks up images for a VM definition; ids the caller cannot see come back as missing,
   * except those in `kept` (already attached to the VM being changed: whoever attached them
   * could see them, and someone who may alter the VM may keep them).
   */
  async findVisible(caller: AuthenticatedUser, stids: string[], kept: ReadonlySet<string> = new Set()): Promise<Map<string, StorageEntity>> {
    if (stids.length === 0) return new Map();
    const rows = await this.storage.findBy({ stid: In(stids) });
    return new Map(rows.filter((r) => kept.has(r.stid) || mayManageGroupResources(caller, r.gid)).map((r) => [r.stid, r]));
  }

  /**
   * The image files of the groups' storage, for when the groups are deleted: their rows go
   * with the groups (by cascade), and the returned function then removes the files.
   */
  async filesRemoverFor(gids: string[]): Promise<() => Promise<void>> {
    const owned = await this.storage.find({ where: { gid: In(gids) }, select: { stid: true, format: true } });
    return async () => {
      await Promise.all(owned.map((image) => this.files.remove(image)));
    };
  }

  async delete(caller: AuthenticatedUser, stid: string): Promise<void> {
    const image = await this.get(caller, stid);
    await this.unitOfWork.run(async (manager) => {
      const vmid = await this.vms.userOf('storage', stid);
      if (vmid) throw new ApiError('STORAGE_IN_USE', `Storage ${stid} is attached to VM ${vmid}`, { vmid });
      await manager.delete(StorageEntity, { stid });
    });
    await this.files.remove(image);
  }

  private async assertGroup(caller: AuthenticatedUser, gid: string): Promise<void> {
    const exists = await this.storage.manager.existsBy(GroupEntity, { gid });
    if (!exists || !mayManageGroupResources(caller, gid)) {
      throw new ApiError('GROUP_NOT_FOUND', `Group ${gid} does not exist or you cannot manage its resources`);
    }
  }

  private tooLarge(limit: number): ApiError {
    return new ApiError('BODY_TOO_LARGE', `The image is larger than the upload limit of ${Math.floor(limit / 1024 / 1024)} MiB (VELOCITY_UPLOAD_LIMIT_MB)`);
  }
}

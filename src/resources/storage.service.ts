import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { EntityManager, In, Repository } from 'typeorm';
import { RequestAudit } from '../audit/request-audit';
import { ApiError } from '../common/errors/api-error';
import { AppConfig } from '../config/app-config';
import { UnitOfWork } from '../database/unit-of-work';
import { HypervisorService } from '../hypervisor/hypervisor.service';
import { AuthenticatedUser } from '../identity/auth/authenticated-user';
import { GroupEntity } from '../identity/entities/group.entity';
import { GroupQuotasService } from '../quotas/group-quotas.service';
import { StorageEntity, StorageFormat } from './entities/storage.entity';
import { VmLocks } from '../vms/vm-locks';
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

export interface CloneRequest extends StorageRequest {
  /** The source image. */
  stid: string;
}

/** What PATCH /r/storage changes; what is left out stays. */
export interface StorageChanges {
  sizeBytes?: number;
  template?: boolean;
}

/** A cloned image; from prepareClone until completeClones its file is a partial file (see prepareClone). */
export interface ImageClone {
  image: StorageEntity;
  /** True where the clone shares the source's blocks (copy-on-write), false for a sparse copy. */
  cow: boolean;
}

class UploadTooLarge extends Error {}

/** Disk images: blank sparse images, streamed uploads, clones, growth, templates, listing and deletion. */
@Injectable()
export class StorageService implements OnModuleInit {
  constructor(
    @InjectRepository(StorageEntity) private readonly storage: Repository<StorageEntity>,
    private readonly unitOfWork: UnitOfWork,
    private readonly vms: VmsRepository,
    private readonly files: StorageFiles,
    private readonly config: AppConfig,
    private readonly hypervisor: HypervisorService,
    private readonly quotas: GroupQuotasService,
    private readonly locks: VmLocks,
  ) {}

  /** Where a new image's file is: this node, or no node for the cluster's shared storage (every node reaches it). */
  private get nodeOfNewImages(): string | null {
    return this.config.sharedStorageDir ? null : this.config.nodeName;
  }

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
    const image = this.storage.create({ stid: RequestAudit.newId(), name: request.name, gid: request.group, format: 'raw', readOnly: false, sizeBytes, node: this.nodeOfNewImages });
    try {
      await this.files.createSparsePartial(image.stid, sizeBytes);
      await this.unitOfWork.run(async (manager) => {
        await this.quotas.assertRoom(manager, image.gid, { storage: sizeBytes });
        await manager.save(image);
      });
    } catch (error) {
      await this.files.removePartial(image.stid);
      throw hostLimitOr(error, sizeBytes);
    }
    await this.files.complete(image);
    return image;
  }

  /**
   * A new image in `request.group` with the source's content, format and read-only flag; an
   * ordinary image, not a template. Needs read access to the source and management of the
   * target group; a disk that a VM not stopped writes is refused (the copy would be torn).
   */
  async clone(caller: AuthenticatedUser, request: CloneRequest): Promise<ImageClone> {
    const source = await this.get(caller, request.stid);
    await this.assertGroup(caller, request.group);
    const writer = (await this.vms.attachmentsOf(this.storage.manager, source.stid)).find((a) => a.writable && !this.isStopped(a.vmid));
    if (writer) throw this.inUse(`Storage ${source.stid} is being written by VM ${writer.vmid}; stop it before cloning the disk`, writer.vmid);
    await this.quotas.precheck(request.group, { storage: source.sizeBytes });
    const clone = await this.prepareClone(source, { gid: request.group, name: request.name });
    try {
      await this.unitOfWork.run(async (manager) => {
        await this.quotas.assertRoom(manager, request.group, { storage: clone.image.sizeBytes });
        await this.saveClones(manager, [clone]);
      });
    } catch (error) {
      await this.discardClones([clone]);
      throw error;
    }
    await this.completeClones([clone]);
    return clone;
  }

  /**
   * The file half of a clone, for POST /r/storage/clone and for callers that clone images
   * inside a transaction of their own (a VM clone): copies the source's file to the partial
   * file of a new image and returns its row, unsaved. Checks no access rules. The caller
   * then saves the rows with saveClones(manager, …) in its transaction and calls
   * completeClones once they are saved — after the commit, or inside the transaction when
   * something in it needs the final files (a hypervisor checking a VM's disks); if anything
   * fails before the commit, discardClones.
   * A crash in between is settled by the start-time sweep like any partial file.
   */
  async prepareClone(source: StorageEntity, target: { gid: string; name: string }): Promise<ImageClone> {
    const stid = randomUUID();
    const { cow, sizeBytes } = await this.files.clonePartial(source, stid);
    // Beside its source, on the source's node (the file is copied there).
    const image = this.storage.create({ stid, name: target.name, gid: target.gid, format: source.format, readOnly: source.readOnly, template: false, sizeBytes, node: source.node });
    return { image, cow };
  }

  async saveClones(manager: EntityManager, clones: ImageClone[]): Promise<void> {
    await manager.save(clones.map((clone) => clone.image));
  }

  /** Gives the partial files of saved clones their final names. */
  async completeClones(clones: ImageClone[]): Promise<void> {
    await Promise.all(clones.map((clone) => this.files.complete(clone.image)));
  }

  /** Removes the files of clones whose rows were not committed, partial or completed. */
  async discardClones(clones: ImageClone[]): Promise<void> {
    await Promise.all(clones.flatMap((clone) => [this.files.removePartial(clone.image.stid), this.files.remove(clone.image)]));
  }

  /**
   * Grows a raw image (sparsely) and marks or unmarks it a template. Growing needs every VM
   * using the image stopped. The template flag decides whether VMs attach the image
   * read-only, so it changes only while no VM attaches it in the other mode: marking while a
   * VM holds it writable, or unmarking while VMs share it as a disk, is refused.
   */
  async update(caller: AuthenticatedUser, stid: string, changes: StorageChanges): Promise<StorageEntity> {
    if (changes.sizeBytes === undefined) return (await this.applyChanges(caller, stid, changes))!;
    // A grow holds the VMs that attach the image, so none starts while its file grows. A VM
    // that attached it meanwhile (a create) is not held: then take the locks again with it.
    for (;;) {
      const held = (await this.vms.attachmentsOf(this.storage.manager, stid)).map((a) => a.vmid);
      const result = await this.locks.runAll(held, () => this.applyChanges(caller, stid, changes, held));
      if (result) return result;
    }
  }

  /** The changes, or null when `held` is given and a VM outside it attaches the image. */
  private applyChanges(caller: AuthenticatedUser, stid: string, changes: StorageChanges, held?: string[]): Promise<StorageEntity | null> {
    return this.unitOfWork.run(async (manager) => {
      // Read and checked inside the transaction, which runs alone: two grows cannot cross.
      const image = await this.get(caller, stid, manager);
      const attachments = await this.vms.attachmentsOf(manager, stid);
      if (held && attachments.some((a) => !held.includes(a.vmid))) return null;
      if (changes.template !== undefined && changes.template !== image.template && !image.readOnly) {
        const holder = attachments.find((a) => (changes.template ? a.writable : a.role === 'disk'));
        if (holder) {
          const mode = changes.template ? 'writable; detach it before making the image a template' : 'read-only as a template; detach it first';
          throw this.inUse(`Storage ${stid} is attached to VM ${holder.vmid} ${mode}`, holder.vmid);
        }
        image.template = changes.template;
      }
      if (changes.sizeBytes !== undefined) {
        assertGrowable(image, changes.sizeBytes);
        const running = attachments.find((a) => !this.isStopped(a.vmid));
        if (running) throw this.inUse(`Storage ${stid} is used by VM ${running.vmid}, which is not stopped; stop it before growing the image`, running.vmid);
        await this.quotas.assertRoom(manager, image.gid, { storage: changes.sizeBytes - image.sizeBytes });
        image.sizeBytes = changes.sizeBytes;
      }
      await manager.update(StorageEntity, { stid }, { template: image.template, sizeBytes: image.sizeBytes });
      if (changes.sizeBytes !== undefined) {
        // Last, inside the transaction: a size the filesystem refuses rolls the row back.
        await this.files.grow(image, changes.sizeBytes).catch((error: unknown) => {
          throw hostLimitOr(error, changes.sizeBytes!);
        });
      }
      return image;
    });
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
    // The declared length refused before any byte is written; the commit counts what arrived.
    if (declaredLength !== undefined) await this.quotas.precheck(request.group, { storage: declaredLength });
    const image = this.storage.create({
      stid: RequestAudit.newId(),
      name: request.name,
      gid: request.group,
      format: request.format,
      readOnly: request.readOnly,
      sizeBytes: 0,
      // Written to this server's data directory.
      node: this.nodeOfNewImages,
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
      await this.unitOfWork.run(async (manager) => {
        await this.quotas.assertRoom(manager, image.gid, { storage: received });
        await manager.save(image);
      });
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

  /** The node holding an image's file (null: shared storage, or written before nodes); undefined for no such image. */
  async nodeOf(stid: string): Promise<string | null | undefined> {
    const row = await this.storage.findOne({ where: { stid }, select: { stid: true, node: true } });
    return row ? row.node : undefined;
  }

  async get(caller: AuthenticatedUser, stid: string, manager: EntityManager = this.storage.manager): Promise<StorageEntity> {
    const image = await manager.findOneBy(StorageEntity, { stid });
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

  /** Whether the driver has the VM stopped (or does not know it: defining it failed at start). */
  private isStopped(vmid: string): boolean {
    return (this.hypervisor.stateIfDefined(vmid) ?? 'STOPPED') === 'STOPPED';
  }

  private inUse(message: string, vmid: string): ApiError {
    return new ApiError('STORAGE_IN_USE', message, { vmid });
  }

  private tooLarge(limit: number): ApiError {
    return new ApiError('BODY_TOO_LARGE', `The image is larger than the upload limit of ${Math.floor(limit / 1024 / 1024)} MiB (VELOCITY_UPLOAD_LIMIT_MB)`);
  }
}

/** Images only grow, and only raw ones (an ISO's size is its content). */
function assertGrowable(image: StorageEntity, sizeBytes: number): void {
  if (image.format !== 'raw') throw new ApiError('STORAGE_CANNOT_GROW', `Storage ${image.stid} is an ${image.format} image; only raw images grow`);
  if (sizeBytes <= image.sizeBytes) {
    throw new ApiError('STORAGE_CANNOT_GROW', `size_mb ${sizeBytes / 2 ** 20} is not larger than the image's current ${image.sizeBytes} bytes; images only grow`);
  }
}

/** A size the filesystem refuses as the API's 422 naming the real limit; any other error as it is. */
function hostLimitOr(error: unknown, sizeBytes: number): unknown {
  return error instanceof FileTooLargeError ? new ApiError('HOST_LIMIT_EXCEEDED', `size_mb ${sizeBytes / 2 ** 20} is too large for this host: ${error.message}`) : error;
}

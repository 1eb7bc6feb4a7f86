import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { In, IsNull, Repository } from 'typeorm';
import { RequestAudit } from '../audit/request-audit';
import { ApiError } from '../common/errors/api-error';
import { AppConfig } from '../config/app-config';
import { UnitOfWork } from '../database/unit-of-work';
import { HypervisorService } from '../hypervisor/hypervisor.service';
import { AuthenticatedUser } from '../identity/auth/authenticated-user';
import { GroupEntity } from '../identity/entities/group.entity';
import { NicEntity } from './entities/nic.entity';
import { VmsRepository } from '../vms/vms.repository';
import { mayManageGroupResources } from './resource-access';

/** NICs: the built-in NAT, the host's bridgeable interfaces, FILEHANDLE sockets. */
@Injectable()
export class NicsService implements OnApplicationBootstrap {
  private readonly logger = new Logger('Resources');
  private readonly socketDirectory: string;

  constructor(
    @InjectRepository(NicEntity) private readonly nics: Repository<NicEntity>,
    private readonly hypervisor: HypervisorService,
    private readonly vms: VmsRepository,
    private readonly unitOfWork: UnitOfWork,
    config: AppConfig,
  ) {
    this.socketDirectory = join(config.dataDir, 'nics');
  }

  /**
   * Makes the table match the host: one NAT row, and one row per bridgeable interface the
   * driver reports. Rows are keyed by interface id, so a NIC keeps its id across restarts;
   * an interface that disappeared stays, marked unavailable, so VM definitions stay valid.
   */
  async onApplicationBootstrap(): Promise<void> {
    await mkdir(this.socketDirectory, { recursive: true });
    const reported = this.hypervisor.capabilities.bridge_interfaces;
    await this.unitOfWork.run(async (manager) => {
      if (!(await manager.existsBy(NicEntity, { type: 'NAT' }))) {
        await manager.insert(NicEntity, { nicid: randomUUID(), type: 'NAT', hostInterface: null, description: 'NAT (built in)', available: true, gid: null });
      }
      const known = await manager.findBy(NicEntity, { type: 'BRIDGE' });
      for (const iface of reported) {
        const row = known.find((k) => k.hostInterface === iface.id);
        const description = `${iface.name}${iface.description ? ` (${iface.description})` : ''}`;
        if (row) await manager.update(NicEntity, { nicid: row.nicid }, { available: true, description });
        else await manager.insert(NicEntity, { nicid: randomUUID(), type: 'BRIDGE', hostInterface: iface.id, description, available: true, gid: null });
      }
      const gone = known.filter((k) => !reported.some((i) => i.id === k.hostInterface)).map((k) => k.nicid);
      if (gone.length) await manager.update(NicEntity, { nicid: In(gone) }, { available: false });
    });
    this.logger.log(`NICs: NAT and ${reported.length} bridgeable host interface(s)`);
  }

  socketPathOf(nicid: string): string {
    return join(this.socketDirectory, `${nicid}.sock`);
  }

  /** NAT and BRIDGE NICs for everyone; FILEHANDLE NICs of groups the caller may manage. */
  list(caller: AuthenticatedUser): Promise<NicEntity[]> {
    const shared = { gid: IsNull() };
    const where = caller.hasRight('poolmanager') ? {} : [shared, { gid: In([...caller.groupIds]) }];
    return this.nics.find({ where, order: { type: 'ASC', description: 'ASC' } });
  }

  async get(caller: AuthenticatedUser, nicid: string): Promise<NicEntity> {
    const nic = await this.nics.findOneBy({ nicid });
    if (!nic || (nic.gid !== null && !mayManageGroupResources(caller, nic.gid))) {
      throw new ApiError('NIC_NOT_FOUND', `NIC ${nicid} does not exist or is not visible to you`);
    }
    return nic;
  }

  /** Looks up NICs for a VM definition, as StorageService.findVisible does for images. */
  async findUsable(caller: AuthenticatedUser, nicids: string[], kept: ReadonlySet<string> = new Set()): Promise<Map<string, NicEntity>> {
    if (nicids.length === 0) return new Map();
    const rows = await this.nics.findBy({ nicid: In(nicids) });
    const usable = (n: NicEntity) => kept.has(n.nicid) || (n.available && (n.gid === null || mayManageGroupResources(caller, n.gid)));
    return new Map(rows.filter(usable).map((n) => [n.nicid, n]));
  }

  async createFileHandle(caller: AuthenticatedUser, gid: string, description: string): Promise<NicEntity> {
    return this.unitOfWork.run(async (manager) => {
      if (!(await manager.existsBy(GroupEntity, { gid })) || !mayManageGroupResources(caller, gid)) {
        throw new ApiError('GROUP_NOT_FOUND', `Group ${gid} does not exist or you cannot manage its resources`);
      }
      const nic = manager.create(NicEntity, { nicid: RequestAudit.newId(), type: 'FILEHANDLE', hostInterface: null, description, available: true, gid });
      return manager.save(nic);
    });
  }

  async delete(caller: AuthenticatedUser, nicid: string): Promise<void> {
    const nic = await this.get(caller, nicid);
    if (nic.type !== 'FILEHANDLE') throw new ApiError('NIC_NOT_REMOVABLE', `The ${nic.type} NIC is built in and cannot be deleted`);
    await this.unitOfWork.run(async (manager) => {
      const vmid = await this.vms.userOf('nic', nicid);
      if (vmid) throw new ApiError('NIC_IN_USE', `NIC ${nicid} is attached to VM ${vmid}`, { vmid });
      await manager.delete(NicEntity, { nicid });
    });
  }
}

import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { BigIntegerColumn } from '../database/big-integer-column';
import { GroupEntity } from '../identity/entities/group.entity';

/**
 * A group's limits; null is no limit. A group without a row has none. The row goes with its
 * group (ON DELETE CASCADE).
 */
@Entity('group_quotas')
export class GroupQuotaEntity {
  @PrimaryColumn('varchar', { length: 36 })
  gid: string;

  @ManyToOne(() => GroupEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'gid', referencedColumnName: 'gid' })
  group?: GroupEntity;

  /** VMs in the catalogs the group owns. */
  @Column('integer', { nullable: true })
  vms: number | null;

  /** Their virtual CPUs (cpu_count), summed. */
  @Column('integer', { nullable: true })
  vcpus: number | null;

  /** Their memory in MiB (memory_size_mb), summed. */
  @Column('integer', { name: 'memory_mb', nullable: true })
  memoryMb: number | null;

  /** The sizes of the storage images the group owns (size_bytes), summed. */
  @BigIntegerColumn({ name: 'storage_bytes', nullable: true })
  storageBytes: number | null;
}

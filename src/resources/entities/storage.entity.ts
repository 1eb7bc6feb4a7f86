import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { BigIntegerColumn } from '../../database/big-integer-column';
import { GroupEntity } from '../../identity/entities/group.entity';

export type StorageFormat = 'raw' | 'iso';

/** A disk image under the data directory (`storage/<stid>.<format>`), owned by a group. */
@Entity('storage')
export class StorageEntity {
  @PrimaryColumn('varchar', { length: 36 })
  stid: string;

  @Column('varchar', { length: 128 })
  name: string;

  @Index()
  @Column('varchar', { length: 36 })
  gid: string;

  @ManyToOne(() => GroupEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'gid', referencedColumnName: 'gid' })
  group?: GroupEntity;

  @Column('varchar', { length: 8 })
  format: StorageFormat;

  /** Read-only images (installer ISOs) may be attached to any number of VMs. */
  @Column('boolean', { name: 'read_only' })
  readOnly: boolean;

  /** A golden image: attached read-only (to any number of VMs), cloned for writable copies. */
  @Column('boolean', { default: false })
  template: boolean;

  @BigIntegerColumn({ name: 'size_bytes' })
  sizeBytes: number;

  @CreateDateColumn({ name: 'created_at' })
  createdAt: Date;
}

/** Whether VMs attach the image read-only, and so any number of them may: ISOs, read-only images, templates. */
export function attachesReadOnly(image: Pick<StorageEntity, 'readOnly' | 'template'>): boolean {
  return image.readOnly || image.template;
}

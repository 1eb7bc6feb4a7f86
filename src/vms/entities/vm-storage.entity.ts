import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { StorageEntity } from '../../resources/entities/storage.entity';
import { VmEntity } from './vm.entity';

export type StorageRole = 'disk' | 'kernel' | 'initrd' | 'restore_image';

/** A storage image a VM uses: as a disk (in order), or as its kernel, initrd or restore image. */
@Entity('vm_storage')
// `true` is 1 to SQLite (whose databases keep the `writable = 1` they were made with: the same index) and a boolean to PostgreSQL.
@Index('IDX_vm_storage_writable_once', ['stid'], { unique: true, where: 'writable = true' })
export class VmStorageEntity {
  @PrimaryColumn('varchar', { length: 36 })
  vmid: string;

  @PrimaryColumn('varchar', { length: 36 })
  stid: string;

  @ManyToOne(() => VmEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'vmid', referencedColumnName: 'vmid' })
  vm?: VmEntity;

  /** No cascade: an image in use cannot be deleted (the service answers 409 first). */
  @ManyToOne(() => StorageEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'stid', referencedColumnName: 'stid' })
  storage?: StorageEntity;

  @Column('varchar', { length: 16 })
  role: StorageRole;

  @Column('integer')
  position: number;

  /** A writable image is attached to at most one VM: the partial unique index enforces it. */
  @Column('boolean')
  writable: boolean;
}

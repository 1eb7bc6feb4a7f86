import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { GroupEntity } from '../../identity/entities/group.entity';

@Entity('catalogs')
export class CatalogEntity {
  @PrimaryColumn('varchar', { length: 36 })
  cid: string;

  @Column('varchar', { length: 128 })
  label: string;

  /** The owning group: its members have every permission. Deleting the group deletes the catalog. */
  @Index()
  @Column('varchar', { length: 36 })
  gid: string;

  @ManyToOne(() => GroupEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'gid', referencedColumnName: 'gid' })
  group?: GroupEntity;

  @CreateDateColumn({ name: 'created_at' })
  createdAt: Date;
}

import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { GroupEntity } from '../../identity/entities/group.entity';

export type NicKind = 'NAT' | 'BRIDGE' | 'FILEHANDLE';

/**
 * A network attachment VMs can use: the one built-in NAT, a bridgeable host interface
 * (found by the driver at start; the row keeps its id stable across restarts), or a
 * FILEHANDLE socket created on request for a group.
 */
@Entity('nics')
export class NicEntity {
  @PrimaryColumn('varchar', { length: 36 })
  nicid: string;

  @Column('varchar', { length: 16 })
  type: NicKind;

  /** BRIDGE: the host interface id as the driver reports it. */
  @Index({ unique: true, where: 'host_interface IS NOT NULL' })
  @Column('varchar', { name: 'host_interface', length: 64, nullable: true })
  hostInterface: string | null;

  @Column('varchar', { length: 255 })
  description: string;

  /** False for a BRIDGE interface the driver no longer reports. */
  @Column('boolean', { default: true })
  available: boolean;

  /** FILEHANDLE: the owning group; null for NAT and BRIDGE, which every user may attach. */
  @Index()
  @Column('varchar', { length: 36, nullable: true })
  gid: string | null;

  @ManyToOne(() => GroupEntity, { onDelete: 'CASCADE', nullable: true })
  @JoinColumn({ name: 'gid', referencedColumnName: 'gid' })
  group?: GroupEntity | null;

  @CreateDateColumn({ name: 'created_at' })
  createdAt: Date;
}

import { Column, CreateDateColumn, Entity, JoinColumn, ManyToMany, OneToOne, PrimaryColumn } from 'typeorm';
import { UserEntity } from './user.entity';

/** The four groups that exist from the first start and carry server-wide rights. */
export const SPECIAL_GROUPS = ['root', 'usermanager', 'catalogmanager', 'poolmanager'] as const;
export type SpecialGroup = (typeof SPECIAL_GROUPS)[number];

@Entity('groups')
export class GroupEntity {
  @PrimaryColumn('varchar', { length: 36 })
  gid: string;

  @Column('varchar', { length: 64, unique: true })
  groupname: string;

  /** Set for the four special groups; they cannot be deleted. */
  @Column('varchar', { length: 32, nullable: true, unique: true })
  special: SpecialGroup | null;

  /** Set for a user's personal group; deleting the user deletes the group. */
  @Column('varchar', { name: 'personal_uid', length: 36, nullable: true })
  personalUid: string | null;

  @OneToOne(() => UserEntity, { onDelete: 'CASCADE', nullable: true })
  @JoinColumn({ name: 'personal_uid', referencedColumnName: 'uid' })
  personalUser?: UserEntity | null;

  @CreateDateColumn({ name: 'created_at' })
  createdAt: Date;

  @ManyToMany(() => UserEntity, (user) => user.groups, { onDelete: 'CASCADE' })
  members: UserEntity[];
}

import { Column, CreateDateColumn, Entity, JoinTable, ManyToMany, PrimaryColumn } from 'typeorm';
import { GroupEntity } from './group.entity';

@Entity('users')
export class UserEntity {
  @PrimaryColumn('varchar', { length: 36 })
  uid: string;

  @Column('varchar', { length: 64, unique: true })
  username: string;

  /** scrypt parameters, salt and hash, see password-hasher.ts. Never leaves the server. */
  @Column('varchar', { name: 'password_hash', length: 255 })
  passwordHash: string;

  @CreateDateColumn({ name: 'created_at' })
  createdAt: Date;

  @ManyToMany(() => GroupEntity, (group) => group.members, { onDelete: 'CASCADE' })
  @JoinTable({
    name: 'memberships',
    joinColumn: { name: 'uid', referencedColumnName: 'uid' },
    inverseJoinColumn: { name: 'gid', referencedColumnName: 'gid' },
  })
  groups: GroupEntity[];
}

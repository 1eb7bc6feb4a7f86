import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { BigIntegerColumn } from '../../database/big-integer-column';
import { UserEntity } from './user.entity';

/** An issued authkey. Only the SHA-256 of the key is stored; the key itself is shown once. */
@Entity('authkeys')
export class AuthkeyEntity {
  /** Hex SHA-256 of the key: keys are 256 random bits, so a fast hash is enough. */
  @PrimaryColumn('varchar', { name: 'key_hash', length: 64 })
  keyHash: string;

  @Index()
  @Column('varchar', { length: 36 })
  uid: string;

  @ManyToOne(() => UserEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'uid', referencedColumnName: 'uid' })
  user?: UserEntity;

  /** Unix time in seconds. */
  @Index()
  @BigIntegerColumn({ name: 'expires_at' })
  expiresAt: number;
}

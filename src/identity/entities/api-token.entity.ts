import { Column, CreateDateColumn, Entity, JoinColumn, ManyToOne, PrimaryColumn, Unique } from 'typeorm';
import { BigIntegerColumn } from '../../database/big-integer-column';
import type { CatalogPermission } from '../../catalogs/permissions/catalog-permission';
import { UserEntity } from './user.entity';

/** One catalog of a token's scope and the permissions the token may use there. */
export interface ApiTokenCatalog {
  cid: string;
  permissions: CatalogPermission[];
}

/**
 * An API token: a long-lived credential a user made for a program. Only the SHA-256 of the
 * secret is stored; the secret itself is shown once. Goes with its user (cascade).
 */
@Entity('api_tokens')
@Unique('UQ_api_tokens_uid_name', ['uid', 'name'])
export class ApiTokenEntity {
  @PrimaryColumn('varchar', { length: 36 })
  id: string;

  /** (Indexed by the unique name per user, whose first column it is.) */
  @Column('varchar', { length: 36 })
  uid: string;

  @ManyToOne(() => UserEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'uid', referencedColumnName: 'uid' })
  user?: UserEntity;

  @Column('varchar', { length: 64 })
  name: string;

  /** Hex SHA-256 of the secret: secrets are 256 random bits, so a fast hash is enough. */
  @Column('varchar', { name: 'secret_hash', length: 64, unique: true })
  secretHash: string;

  /** Null: every catalog, with the user's permissions; else only these (JSON). */
  @Column('simple-json', { name: 'catalogs', nullable: true })
  catalogs: ApiTokenCatalog[] | null;

  @Column('boolean', { name: 'read_only', default: false })
  readOnly: boolean;

  /** Unix time in seconds; null: valid until revoked. */
  @BigIntegerColumn({ name: 'expires_at', nullable: true })
  expiresAt: number | null;

  @CreateDateColumn({ name: 'created_at' })
  createdAt: Date;
}

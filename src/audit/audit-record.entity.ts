import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';
import { BigIntegerColumn } from '../database/big-integer-column';

/**
 * One audited request: who, from where, what, and how it ended. Holds no request body and no
 * credential: ids, names, the path without its query, and the outcome.
 */
@Entity('audit_log')
export class AuditRecordEntity {
  /** Also the order records were written in (newest last). */
  @PrimaryGeneratedColumn('increment')
  id: number;

  /** When the request arrived, unix milliseconds. */
  @Index()
  @BigIntegerColumn()
  at: number;

  /** The authenticated caller; null when the request carried no valid authkey. */
  @Index()
  @Column('varchar', { length: 36, nullable: true })
  uid: string | null;

  /** The caller's name, or for a login the name it was attempted with. */
  @Column('varchar', { length: 64, nullable: true })
  username: string | null;

  /** The API token the caller used instead of an authkey (its id, never its secret). */
  @Column('varchar', { name: 'token_id', length: 36, nullable: true })
  tokenId: string | null;

  /** The client address (the forwarded one behind a trusted proxy). */
  @Column('varchar', { length: 64, nullable: true })
  address: string | null;

  /** The OpenAPI operationId of the route; null for a WebSocket path without one. */
  @Column('varchar', { length: 64, nullable: true })
  operation: string | null;

  @Column('varchar', { length: 8 })
  method: string;

  /** The request path, base path included, without the query. */
  @Column('varchar', { length: 256 })
  path: string;

  @Column('integer')
  status: number;

  @Column('varchar', { name: 'error_code', length: 64, nullable: true })
  errorCode: string | null;

  /** The request id of the access log line (X-Request-Id). */
  @Column('varchar', { name: 'request_id', length: 128 })
  requestId: string;
}

/** An id the audited request named or created (a cid, vmid, gid, uid, stid, nicid). */
@Entity('audit_targets')
export class AuditTargetEntity {
  /** First, so that the primary key is also the index of the `target` filter. */
  @PrimaryColumn('varchar', { length: 36 })
  target: string;

  /** Indexed for the cascade when retention deletes records. */
  @Index()
  @PrimaryColumn('integer', { name: 'record_id' })
  recordId: number;

  @ManyToOne(() => AuditRecordEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'record_id', referencedColumnName: 'id' })
  record?: AuditRecordEntity;
}

import type { EntityManager } from 'typeorm';
import { AuditRecordEntity, AuditTargetEntity } from './audit-record.entity';

/** What an audit record says, as the code that writes it builds it. */
export interface AuditEntry {
  /** Unix milliseconds: when the request arrived. */
  at: number;
  uid: string | null;
  username: string | null;
  tokenId: string | null;
  address: string | null;
  operation: string | null;
  method: string;
  path: string;
  status: number;
  errorCode: string | null;
  requestId: string;
  /** The ids the request named or its answer created, each once. */
  targets: string[];
}

/** How a request ended, as far as its record is concerned. */
/** A record's outcome: its status and error code. */
export type RecordedOutcome = Pick<AuditOutcome, 'status' | 'errorCode'>;

export interface AuditOutcome {
  status: number;
  errorCode: string | null;
  /** Ids the answer names (a created vmid, say), beside those the request named. */
  replyTargets: string[];
}

/** Request and reply fields that hold one id of something the request acts on. */
const ID_FIELDS = ['cid', 'vmid', 'gid', 'uid', 'stid', 'nicid', 'catalog', 'group', 'kernel', 'initrd', 'restore_image'];
/** Request fields that hold a list of such ids. */
const ID_LIST_FIELDS = ['groups', 'storage_devices', 'nics'];
/** Enough for every id a request of this API can name (16 disks, 8 NICs, groups …). */
const MAX_TARGETS = 64;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The ids among the named fields of `carriers` (a body, a query, a reply), added to `into`.
 * Only UUIDs are taken, so no other value of a body (a name, a password) can become a target.
 */
export function collectTargets(into: Set<string>, ...carriers: unknown[]): Set<string> {
  for (const carrier of carriers) {
    if (typeof carrier !== 'object' || carrier === null || Array.isArray(carrier)) continue;
    const fields = carrier as Record<string, unknown>;
    const values = [...ID_FIELDS.map((f) => fields[f]), ...ID_LIST_FIELDS.flatMap((f) => (Array.isArray(fields[f]) ? (fields[f] as unknown[]) : []))];
    for (const value of values) {
      if (into.size >= MAX_TARGETS) return into;
      if (typeof value === 'string' && UUID.test(value)) into.add(value.toLowerCase());
    }
  }
  return into;
}

/** Target rows written per statement, well below SQLite's limit on a statement's parameters. */
const TARGET_ROWS_PER_STATEMENT = 400;

/** Writes a record and its targets with `manager` (inside the caller's transaction); returns its id. */
export async function insertAuditEntry(manager: EntityManager, entry: AuditEntry): Promise<number> {
  return (await insertAuditEntries(manager, [entry]))[0];
}

/**
 * Writes records and their targets with `manager`, in two statements for any number of them
 * (a batch of state changes carries one record per request); returns their ids in order.
 */
export async function insertAuditEntries(manager: EntityManager, entries: AuditEntry[]): Promise<number[]> {
  const { identifiers } = await manager.insert(
    AuditRecordEntity,
    entries.map(({ targets: _targets, ...record }) => record),
  );
  const ids = identifiers.map((identifier) => identifier.id as number);
  await insertTargetRows(manager, entries.flatMap(({ targets }, i) => targets.map((target) => ({ target, recordId: ids[i] }))));
  return ids;
}

export function insertAuditTargets(manager: EntityManager, recordId: number, targets: string[]): Promise<void> {
  return insertTargetRows(manager, targets.map((target) => ({ target, recordId })));
}

async function insertTargetRows(manager: EntityManager, rows: Array<{ target: string; recordId: number }>): Promise<void> {
  for (let start = 0; start < rows.length; start += TARGET_ROWS_PER_STATEMENT) {
    await manager.insert(AuditTargetEntity, rows.slice(start, start + TARGET_ROWS_PER_STATEMENT));
  }
}

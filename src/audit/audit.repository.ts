import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { UnitOfWork } from '../database/unit-of-work';
import { AuditEntry, insertAuditEntry, insertAuditTargets, RecordedOutcome } from './audit-entry';
import { AuditRecordEntity, AuditTargetEntity } from './audit-record.entity';

export interface AuditFilter {
  uid?: string;
  target?: string;
  /** Unix milliseconds, inclusive. */
  from?: number;
  /** Unix milliseconds, inclusive. */
  to?: number;
  limit: number;
  offset: number;
}

export interface AuditPage {
  records: Array<AuditRecordEntity & { targets: string[] }>;
  total: number;
}

/** Rows deleted per statement by retention, so one sweep never holds the database for long. */
const DELETE_BATCH = 5000;

/** The one owner of the audit tables: every write and query on them. */
@Injectable()
export class AuditRepository {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly unitOfWork: UnitOfWork,
  ) {}

  insert(manager: EntityManager, entry: AuditEntry): Promise<number> {
    return insertAuditEntry(manager, entry);
  }

  /**
   * Brings record `id` (written in a transaction before the answer was final) up to the
   * answer: its outcome where that differs, and the targets the answer named.
   */
  async correct(manager: EntityManager, id: number, outcome: RecordedOutcome | null, addedTargets: string[]): Promise<void> {
    if (outcome) await manager.update(AuditRecordEntity, { id }, outcome);
    await insertAuditTargets(manager, id, addedTargets);
  }

  /** Newest first. */
  async page(filter: AuditFilter): Promise<AuditPage> {
    const query = this.dataSource.getRepository(AuditRecordEntity).createQueryBuilder('a');
    if (filter.uid !== undefined) query.andWhere('a.uid = :uid', { uid: filter.uid });
    if (filter.from !== undefined) query.andWhere('a.at >= :from', { from: filter.from });
    if (filter.to !== undefined) query.andWhere('a.at <= :to', { to: filter.to });
    if (filter.target !== undefined) {
      query.andWhere('a.id IN (SELECT t.record_id FROM audit_targets t WHERE t.target = :target)', { target: filter.target.toLowerCase() });
    }
    const [rows, total] = await query.orderBy('a.id', 'DESC').take(filter.limit).skip(filter.offset).getManyAndCount();
    const targets = await this.targetsOf(rows.map((r) => r.id));
    return { records: rows.map((row) => ({ ...row, targets: targets.get(row.id) ?? [] })), total };
  }

  /** Deletes the records from before `cutoff` (unix milliseconds), a batch per transaction; returns how many. */
  async deleteBefore(cutoff: number): Promise<number> {
    let deleted = 0;
    for (;;) {
      const { affected } = await this.unitOfWork.run((manager) =>
        manager
          .createQueryBuilder()
          .delete()
          .from(AuditRecordEntity)
          .where('id IN (SELECT id FROM audit_log WHERE at < :cutoff ORDER BY at LIMIT :batch)', { cutoff, batch: DELETE_BATCH })
          .execute(),
      );
      deleted += affected ?? 0;
      if ((affected ?? 0) < DELETE_BATCH) return deleted;
    }
  }

  private async targetsOf(ids: number[]): Promise<Map<number, string[]>> {
    const byRecord = new Map<number, string[]>();
    if (ids.length === 0) return byRecord;
    const rows = await this.dataSource.getRepository(AuditTargetEntity).createQueryBuilder('t').where('t.record_id IN (:...ids)', { ids }).getMany();
    for (const { recordId, target } of rows) {
      const targets = byRecord.get(recordId);
      if (targets) targets.push(target);
      else byRecord.set(recordId, [target]);
    }
    return byRecord;
  }
}

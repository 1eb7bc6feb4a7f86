import { Injectable } from '@nestjs/common';
import { AuditFilter, AuditPage, AuditRepository } from './audit.repository';
import { AuditTrail } from './audit-trail';

/** Reading the audit log. */
@Injectable()
export class AuditService {
  constructor(
    private readonly trail: AuditTrail,
    private readonly repository: AuditRepository,
  ) {}

  /** Newest first; includes every request answered before this one (queued records are written first). */
  async list(query: AuditFilter): Promise<AuditPage> {
    await this.trail.drain();
    return this.repository.page(query);
  }
}

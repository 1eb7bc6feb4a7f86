import { Module } from '@nestjs/common';
import { AuditController } from './audit.controller';
import { AuditRepository } from './audit.repository';
import { AuditRetention } from './audit-retention';
import { AuditService } from './audit.service';
import { AuditTrail } from './audit-trail';

/** The audit log: recording (AuditTrail, with UnitOfWork), retention and GET /audit. */
@Module({
  controllers: [AuditController],
  providers: [AuditRepository, AuditTrail, AuditRetention, AuditService],
  exports: [AuditTrail],
})
export class AuditModule {}

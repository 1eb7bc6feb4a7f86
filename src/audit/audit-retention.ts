import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { Clock } from '../common/clock';
import { AppConfig } from '../config/app-config';
import { AuditRepository } from './audit.repository';

/** How often old records are deleted while the server runs. */
const SWEEP_INTERVAL_MS = 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Deletes audit records older than VELOCITY_AUDIT_RETENTION_DAYS at start and every hour;
 * 0 keeps them forever.
 */
@Injectable()
export class AuditRetention implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Audit');
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<number> = Promise.resolve(0);

  constructor(
    private readonly repository: AuditRepository,
    private readonly clock: Clock,
    private readonly config: AppConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.auditRetentionDays === 0) return;
    await this.sweep();
    this.timer = setInterval(() => void this.sweep(), SWEEP_INTERVAL_MS).unref();
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.sweeping;
  }

  /** Deletes what is past the retention period now; resolves with how many records went. */
  sweep(): Promise<number> {
    if (this.config.auditRetentionDays === 0) return Promise.resolve(0);
    this.sweeping = this.sweeping.then(async () => {
      const cutoff = this.clock.nowMillis() - this.config.auditRetentionDays * DAY_MS;
      try {
        const deleted = await this.repository.deleteBefore(cutoff);
        if (deleted) this.logger.log(`deleted ${deleted} audit record(s) older than ${this.config.auditRetentionDays} days`);
        return deleted;
      } catch (error) {
        this.logger.error(`deleting old audit records failed: ${(error as Error).message}`);
        return 0;
      }
    });
    return this.sweeping;
  }
}

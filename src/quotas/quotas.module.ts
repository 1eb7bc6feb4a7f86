import { Module } from '@nestjs/common';
import { GroupQuotasController } from './group-quotas.controller';
import { GroupQuotasService } from './group-quotas.service';

/**
 * Quotas per group (`/u/group/quota`) and the check the resources and VM modules make before
 * a change that grows a group's use. It builds on the database alone (it counts use with SQL),
 * so both can import it.
 */
@Module({
  controllers: [GroupQuotasController],
  providers: [GroupQuotasService],
  exports: [GroupQuotasService],
})
export class QuotasModule {}

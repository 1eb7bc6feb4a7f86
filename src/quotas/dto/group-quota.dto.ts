import { ApiProperty } from '@nestjs/swagger';
import { NullableIntegerField, UuidField } from '../../common/validation/fields';
import { GroupQuotaView } from '../group-quotas.service';
import { Limits, QUOTA_NAMES } from '../quota';

const GID_EXAMPLE = '5a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
/** The largest limit: 2^49 (512 TiB of storage in bytes); fits a numeric string of 15 digits. */
const MAX_LIMIT = 2 ** 49;

const DESCRIPTIONS = {
  vms: 'VMs in the catalogs the group owns',
  vcpus: 'Virtual CPUs (`cpu_count`) of those VMs, summed',
  memory: 'Memory of those VMs in MiB (`memory_size_mb`), summed',
  storage: 'Bytes of the storage images the group owns (`size_bytes`), summed',
};

function LimitField(description: string, example: number) {
  return NullableIntegerField({ description: `${description}: the limit; null removes it, left out keeps it`, example, min: 0, max: MAX_LIMIT });
}

/** POST /u/group/quota: limits to set (a number), clear (null) or keep (left out). */
export class SetGroupQuotaDto {
  @UuidField({ description: 'Group id', example: GID_EXAMPLE })
  gid: string;

  @LimitField(DESCRIPTIONS.vms, 10) vms?: number | null;
  @LimitField(DESCRIPTIONS.vcpus, 32) vcpus?: number | null;
  @LimitField(DESCRIPTIONS.memory, 65536) memory?: number | null;
  @LimitField(DESCRIPTIONS.storage, 1099511627776) storage?: number | null;
}

export class QuotaLimitsDto {
  @ApiProperty({ type: 'integer', nullable: true, description: `${DESCRIPTIONS.vms}; null: no limit`, example: 10 }) vms: number | null;
  @ApiProperty({ type: 'integer', nullable: true, description: `${DESCRIPTIONS.vcpus}; null: no limit`, example: 32 }) vcpus: number | null;
  @ApiProperty({ type: 'integer', nullable: true, description: `${DESCRIPTIONS.memory}; null: no limit`, example: 65536 }) memory: number | null;
  @ApiProperty({ type: 'integer', nullable: true, description: `${DESCRIPTIONS.storage}; null: no limit`, example: null }) storage: number | null;
}

export class QuotaUsageDto {
  @ApiProperty({ type: 'integer', description: DESCRIPTIONS.vms, example: 3 }) vms: number;
  @ApiProperty({ type: 'integer', description: DESCRIPTIONS.vcpus, example: 6 }) vcpus: number;
  @ApiProperty({ type: 'integer', description: DESCRIPTIONS.memory, example: 6144 }) memory: number;
  @ApiProperty({ type: 'integer', description: DESCRIPTIONS.storage, example: 21474836480 }) storage: number;
}

export class GroupQuotaDto {
  @ApiProperty({ format: 'uuid', example: GID_EXAMPLE }) gid: string;
  @ApiProperty({ type: QuotaLimitsDto, description: 'The group\'s limits' }) limits: QuotaLimitsDto;
  @ApiProperty({ type: QuotaUsageDto, description: 'What the group uses now' }) used: QuotaUsageDto;
}

/** The limits a request sets: those it names, with null for those it clears. */
export function limitChanges(body: SetGroupQuotaDto): Partial<Limits> {
  return Object.fromEntries(QUOTA_NAMES.filter((quota) => body[quota] !== undefined).map((quota) => [quota, body[quota]]));
}

export function mapGroupQuota(view: GroupQuotaView): GroupQuotaDto {
  return { gid: view.gid, limits: { ...view.limits }, used: { ...view.used } };
}

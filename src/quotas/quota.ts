import { ApiError } from '../common/errors/api-error';

/** What a group's quota limits, in the units of the VM definition and storage DTOs. */
export const QUOTA_NAMES = ['vms', 'vcpus', 'memory', 'storage'] as const;
export type QuotaName = (typeof QUOTA_NAMES)[number];

/** A number per quota: a group's use, or what a request adds to it. */
export type Quantities = Record<QuotaName, number>;

/** A group's limits; null is no limit. */
export type Limits = Record<QuotaName, number | null>;

export const NO_LIMITS: Limits = { vms: null, vcpus: null, memory: null, storage: null };

const UNITS: Record<QuotaName, string> = { vms: 'VMs', vcpus: 'vCPUs', memory: 'MiB of memory', storage: 'bytes of storage' };

/** A quota the request would take the group past. */
export interface Excess {
  quota: QuotaName;
  limit: number;
  used: number;
  requested: number;
}

/**
 * The first quota that `demand` (what a request adds; zero or less for what it keeps or frees)
 * would take past its limit. Only growth is refused: a group already over a limit lowered
 * below its use may still shrink or keep what it has.
 */
export function firstExcess(limits: Limits, used: Quantities, demand: Partial<Quantities>): Excess | null {
  for (const quota of QUOTA_NAMES) {
    const requested = demand[quota] ?? 0;
    const limit = limits[quota];
    if (requested > 0 && limit !== null && used[quota] + requested > limit) return { quota, limit, used: used[quota], requested };
  }
  return null;
}

/** Whether `demand` grows a quota that has a limit, so the group's use must be counted. */
export function needsCount(limits: Limits, demand: Partial<Quantities>): boolean {
  return QUOTA_NAMES.some((quota) => (demand[quota] ?? 0) > 0 && limits[quota] !== null);
}

/** The fields a QUOTA_EXCEEDED body adds to `{code, message}`, for the OpenAPI document (ApiErrors' 422 extras). */
export const QUOTA_EXCEEDED_FIELDS = {
  gid: { type: 'string', example: '5a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d', only: 'QUOTA_EXCEEDED' },
  quota: { type: 'string', enum: QUOTA_NAMES, example: 'vms', only: 'QUOTA_EXCEEDED' },
  limit: { type: 'integer', example: 10, only: 'QUOTA_EXCEEDED' },
  used: { type: 'integer', example: 10, only: 'QUOTA_EXCEEDED' },
  requested: { type: 'integer', example: 1, only: 'QUOTA_EXCEEDED' },
} as const;

export function quotaExceeded(gid: string, { quota, limit, used, requested }: Excess): ApiError {
  const unit = UNITS[quota];
  return new ApiError(
    'QUOTA_EXCEEDED',
    `Group ${gid} may use at most ${limit} ${unit} (quota ${quota}); it uses ${used} and this request needs ${requested} more`,
    { gid, quota, limit, used, requested },
  );
}

import { ApiError } from '../common/errors/api-error';
import { isForeignKeyViolation } from '../database/unit-of-work';

/**
 * Deleting a user or group deletes what its group owns; the database refuses when a VM
 * elsewhere still uses one of those images or NICs. That refusal becomes a 409.
 */
export function refuseWhileInUse(error: unknown): never {
  if (isForeignKeyViolation(error)) {
    throw new ApiError('GROUP_IN_USE', 'It owns storage or NICs that VMs still use; detach them or delete those VMs first');
  }
  throw error;
}

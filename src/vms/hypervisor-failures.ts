import { ApiError } from '../common/errors/api-error';
import type { VmState } from '../hypervisor/hypervisor-driver';
import { HypervisorError } from '../hypervisor/hypervisor.errors';
import type { RequestableState } from './vm-state-plan';

/** What was being attempted when the driver failed, for the error the client gets. */
export interface DriverAttempt {
  vmid: string;
  /** In words: "define", "start", "capture a screenshot of" … */
  action: string;
  /** The VM's true state after the failure. */
  state: VmState;
  /** For state requests: the state the client asked for. */
  requested?: RequestableState;
}

/**
 * Every driver failure becomes an API error here, in one place: what the driver cannot do
 * on this host and definitions it refuses are the client's to change (422); a state change
 * the VM's current state does not allow is the seed's 403; anything else is the hypervisor
 * failing (500, with the VM's true state).
 */
export function apiErrorOf(error: unknown, attempt: DriverAttempt): ApiError {
  const { vmid, action, state, requested } = attempt;
  const code = error instanceof HypervisorError ? error.code : undefined;
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'UNSUPPORTED') return new ApiError('UNSUPPORTED_ON_HOST', message);
  if (code === 'INVALID_CONFIG' || code === 'INVALID_ARGUMENT') return new ApiError('INVALID_VM_CONFIG', message);
  if (code === 'INVALID_STATE' && requested) return stateChangeNotAllowed(vmid, requested, state);
  return new ApiError('HYPERVISOR_FAILURE', `The hypervisor failed to ${action} the VM: ${message}`, { vmid, state });
}

/** The seed's 403 for a state the VM cannot reach from where it is. */
export function stateChangeNotAllowed(vmid: string, requested: RequestableState, current: VmState): ApiError {
  return new ApiError('STATE_CHANGE_NOT_ALLOWED', `A ${current} VM cannot be brought to ${requested}`, {
    vmid,
    req_state: requested,
    cur_state: current,
  });
}

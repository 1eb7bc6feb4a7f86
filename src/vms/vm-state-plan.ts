import type { VmState } from '../hypervisor/hypervisor-driver';

/** The states a client may ask for (the others are transitional, the driver's own). */
export const REQUESTABLE_STATES = ['RUNNING', 'PAUSED', 'STOPPED'] as const;
export type RequestableState = (typeof REQUESTABLE_STATES)[number];

/** The driver action that brings a VM towards a requested state. */
export type StateAction = 'start' | 'resume' | 'pause' | 'requestStop' | 'stop';

/**
 * Which driver action takes a VM from `current` to `requested`, or null when the seed's
 * state machine does not allow it (transitional states accept nothing but a forced stop
 * of a VM that is already stopping). Call it only when `current` is not `requested`.
 */
export function planStateChange(current: VmState, requested: RequestableState, force: boolean): StateAction | null {
  switch (requested) {
    case 'RUNNING':
      return current === 'STOPPED' ? 'start' : current === 'PAUSED' ? 'resume' : null;
    case 'PAUSED':
      return current === 'RUNNING' ? 'pause' : null;
    case 'STOPPED':
      if (current === 'RUNNING') return force ? 'stop' : 'requestStop';
      // A paused guest cannot act on an ACPI request: stopping it is always immediate.
      if (current === 'PAUSED') return 'stop';
      if (current === 'STOPPING' && force) return 'stop';
      return null;
  }
}

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VM_STATES, VmState } from '../../src/hypervisor/hypervisor-driver';
import { planStateChange, RequestableState, StateAction } from '../../src/vms/vm-state-plan';

/**
 * The seed's state machine, as a table: for every state a VM can be in, every state a
 * client may request, with and without force, the driver action (or null: 403).
 */
const EXPECTED: Record<VmState, Record<RequestableState, [plain: StateAction | null, forced: StateAction | null]>> = {
  STOPPED: { RUNNING: ['start', 'start'], PAUSED: [null, null], STOPPED: [null, null] },
  STARTING: { RUNNING: [null, null], PAUSED: [null, null], STOPPED: [null, null] },
  RUNNING: { RUNNING: [null, null], PAUSED: ['pause', 'pause'], STOPPED: ['requestStop', 'stop'] },
  PAUSING: { RUNNING: [null, null], PAUSED: [null, null], STOPPED: [null, null] },
  PAUSED: { RUNNING: ['resume', 'resume'], PAUSED: [null, null], STOPPED: ['stop', 'stop'] },
  RESUMING: { RUNNING: [null, null], PAUSED: [null, null], STOPPED: [null, null] },
  STOPPING: { RUNNING: [null, null], PAUSED: [null, null], STOPPED: [null, 'stop'] },
};

describe('state plan', () => {
  for (const current of VM_STATES) {
    for (const requested of ['RUNNING', 'PAUSED', 'STOPPED'] as const) {
      if (current === requested) continue; // the service answers 208 without asking the plan
      const [plain, forced] = EXPECTED[current][requested];
      it(`${current} → ${requested}: ${plain ?? '403'}, forced ${forced ?? '403'}`, () => {
        assert.equal(planStateChange(current, requested, false), plain);
        assert.equal(planStateChange(current, requested, true), forced);
      });
    }
  }
});

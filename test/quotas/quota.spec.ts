import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { firstExcess, Limits, needsCount, NO_LIMITS, quotaExceeded } from '../../src/quotas/quota';

const used = { vms: 2, vcpus: 4, memory: 1024, storage: 100 };

describe('quota rule (no app)', () => {
  it('refuses only growth past a limit, up to the limit exactly allowed', () => {
    const limits: Limits = { vms: 3, vcpus: 4, memory: null, storage: 100 };
    assert.equal(firstExcess(limits, used, { vms: 1 }), null, 'the last VM under the limit');
    assert.deepEqual(firstExcess(limits, used, { vms: 2 }), { quota: 'vms', limit: 3, used: 2, requested: 2 });
    assert.equal(firstExcess(limits, used, { memory: 1_000_000 }), null, 'no limit');
    assert.equal(firstExcess(limits, used, { vcpus: 0, storage: -50 }), null, 'keeping or freeing passes a limit already reached');
    assert.deepEqual(firstExcess({ ...limits, vcpus: 2 }, used, { vcpus: 1, storage: 1 })?.quota, 'vcpus', 'the first quota exceeded, in order');
  });

  it('counts the use only when a demanded quota has a limit', () => {
    assert.equal(needsCount(NO_LIMITS, { vms: 1, storage: 5 }), false);
    assert.equal(needsCount({ ...NO_LIMITS, storage: 5 }, { vms: 1 }), false);
    assert.equal(needsCount({ ...NO_LIMITS, storage: 5 }, { storage: -1 }), false);
    assert.equal(needsCount({ ...NO_LIMITS, storage: 5 }, { storage: 1 }), true);
  });

  it('the error is 422 QUOTA_EXCEEDED with the numbers as fields and in the message', () => {
    const error = quotaExceeded('g1', { quota: 'memory', limit: 2048, used: 1024, requested: 2048 });
    assert.deepEqual([error.status, error.code, error.extras], [422, 'QUOTA_EXCEEDED', { gid: 'g1', quota: 'memory', limit: 2048, used: 1024, requested: 2048 }]);
    assert.equal(error.message, 'Group g1 may use at most 2048 MiB of memory (quota memory); it uses 1024 and this request needs 2048 more');
  });
});

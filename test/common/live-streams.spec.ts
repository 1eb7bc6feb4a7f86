import { Logger } from '@nestjs/common';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiError } from '../../src/common/errors/api-error';
import { AccessChanges } from '../../src/common/access-changes';
import { LiveStreams, StreamEnd } from '../../src/common/live-streams';
import { ManualClock } from '../support/manual-clock';

/**
 * LiveStreams' rules without an app: which reported change touches which stream, that
 * traffic waits for a check under way, and how a failed check becomes a close code. The
 * stream's check is a fake whose answer the test sets.
 */

const NOW = new ManualClock().nowSeconds();

function world() {
  const clock = new ManualClock();
  const streams = new LiveStreams(clock, new AccessChanges());
  /** A stream on catalog `cid` whose check answers `verdict()` after `gate` opens. */
  async function open(keyHash: string, cid: string, expiresAt: number | null = NOW + 3600) {
    let verdict: () => string = () => cid;
    let checks = 0;
    let gate = Promise.resolve();
    const stream = await streams.open({ keyHash, expiresAt }, async () => {
      checks++;
      await gate;
      return verdict();
    });
    const ends: StreamEnd[] = [];
    stream.onEnd((end) => ends.push(end));
    return {
      stream,
      ends,
      checks: () => checks,
      refuseWith: (error: Error) => (verdict = () => { throw error; }),
      /** Holds the next checks until the returned function is called. */
      hold: () => {
        let open!: () => void;
        gate = new Promise((r) => (open = r));
        return () => open();
      },
    };
  }
  return { clock, streams, open };
}

const tick = () => new Promise((r) => setImmediate(r));

// The unexpected failure below is logged on purpose; the test output need not show it.
Logger.overrideLogger(false);

describe('LiveStreams (fakes, no app)', () => {
  it('a refused first check is thrown to the opener', async () => {
    const { streams } = world();
    const refusal = new ApiError('PERMISSION_DENIED', 'no');
    await assert.rejects(streams.open({ keyHash: 'k', expiresAt: NOW + 60 }, async () => { throw refusal; }), refusal);
  });

  it('a dropped key ends its own streams at once with 4401, and no other', async () => {
    const { streams, open } = world();
    const mine = await open('k1', 'c1');
    const other = await open('k2', 'c1');
    streams.authkeyDropped('k1');
    assert.deepEqual(mine.ends, [{ code: 4401, reason: 'AUTH_REQUIRED' }]);
    assert.equal(await mine.stream.allowed(), false);
    assert.deepEqual(other.ends, []);
  });

  it('a catalog change re-checks only that catalog\'s streams; a lost permission is 4403, a lost key 4401', async () => {
    const { streams, open } = world();
    const inC1 = await open('k1', 'c1');
    const alsoC1 = await open('k2', 'c1');
    const inC2 = await open('k3', 'c2');
    inC1.refuseWith(new ApiError('VM_NOT_FOUND', 'gone'));
    alsoC1.refuseWith(new ApiError('AUTH_REQUIRED', 'gone'));
    streams.catalogChanged('c1');
    await tick();
    assert.deepEqual(inC1.ends, [{ code: 4403, reason: 'VM_NOT_FOUND' }]);
    assert.deepEqual(alsoC1.ends, [{ code: 4401, reason: 'AUTH_REQUIRED' }]);
    assert.equal(inC2.checks(), 1, 'the other catalog\'s stream was not checked again');
  });

  it('a membership change re-checks every stream; one whose check still passes stays', async () => {
    const { streams, open } = world();
    const a = await open('k1', 'c1');
    const b = await open('k2', 'c2');
    streams.membershipsChanged();
    await tick();
    assert.deepEqual([a.checks(), b.checks()], [2, 2]);
    assert.deepEqual([a.ends, b.ends], [[], []]);
    assert.equal(await a.stream.allowed(), true);
  });

  it('traffic waits for a check under way: nothing passes between the change and its verdict', async () => {
    const { streams, open } = world();
    const s = await open('k1', 'c1');
    const release = s.hold();
    s.refuseWith(new ApiError('PERMISSION_DENIED', 'no'));
    streams.catalogChanged('c1');
    let answered: boolean | undefined;
    void s.stream.allowed().then((allowed) => (answered = allowed));
    await tick();
    assert.equal(answered, undefined, 'still waiting for the check');
    release();
    await tick();
    assert.equal(answered, false);
    assert.deepEqual(s.ends, [{ code: 4403, reason: 'PERMISSION_DENIED' }]);
  });

  it('a check that fails unexpectedly ends the stream with 1011 rather than keeping it open', async () => {
    const { streams, open } = world();
    const s = await open('k1', 'c1');
    s.refuseWith(new Error('database is locked'));
    streams.membershipsChanged();
    await tick();
    assert.deepEqual(s.ends, [{ code: 1011, reason: 'INTERNAL_ERROR' }]);
  });

  it('an expired key ends its stream on the next traffic, without waiting for the sweep', async () => {
    const { clock, open } = world();
    const s = await open('k1', 'c1', NOW + 10);
    assert.equal(await s.stream.allowed(), true);
    clock.advance(10);
    assert.equal(await s.stream.allowed(), false);
    assert.deepEqual(s.ends, [{ code: 4401, reason: 'AUTH_REQUIRED' }]);
  });

  it('a credential without expiry (an API token) is never ended by time, only by being dropped', async () => {
    const { clock, streams, open } = world();
    const s = await open('token', 'c1', null);
    clock.advance(100 * 365 * 86400);
    s.stream.endIfExpired();
    assert.equal(await s.stream.allowed(), true);
    streams.authkeyDropped('token');
    assert.deepEqual(s.ends, [{ code: 4401, reason: 'AUTH_REQUIRED' }]);
  });

  it('a released stream is no longer checked', async () => {
    const { streams, open } = world();
    const s = await open('k1', 'c1');
    s.stream.release();
    streams.membershipsChanged();
    await tick();
    assert.equal(s.checks(), 1);
  });
});

import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import { CatalogAuthorizer } from '../../../src/catalogs/permissions/catalog-authorizer';
import { Clock } from '../../../src/common/clock';
import { LiveStream } from '../../../src/common/live-streams';
import { AppConfig } from '../../../src/config/app-config';
import { HypervisorService } from '../../../src/hypervisor/hypervisor.service';
import { AuthenticatedUser } from '../../../src/identity/auth/authenticated-user';
import { CatalogViews } from '../../../src/vms/events/catalog-views';
import { RelayedVmEvent, toVmEvent } from '../../../src/vms/events/vm-event';
import { VmEventBacklog } from '../../../src/vms/events/vm-event-backlog';
import { VmEventStream } from '../../../src/vms/events/vm-event-stream';
import { VmEvents } from '../../../src/vms/events/vm-events.service';
import { CausedChange, FAILURE_REPORT_GRACE_MS, VmStateCauses } from '../../../src/vms/events/vm-state-causes';
import { strictFake } from '../../support/strict-fake';
import { sleep } from '../../support/wait';

/** The event log's parts without an app: the backlog, the causes, one stream against a client that does not read. */

const VMID = '6f1c1d2e-0000-4000-8000-000000000001';
const CID = '6f1c1d2e-0000-4000-8000-0000000000c1';

function event(id: number) {
  return toVmEvent({ type: 'deleted', vmid: VMID, cid: CID }, id, new Date());
}

describe('VmEventBacklog', () => {
  it('replays exactly the events after an id it still holds, and nothing for the latest', () => {
    const backlog = new VmEventBacklog(3, 100);
    assert.deepEqual(backlog.since(99), { kind: 'missed', events: [] }, 'an empty backlog is up to date with the id before its first');
    for (let id = 100; id < 105; id++) backlog.push(event(id));
    const replay = backlog.since(101);
    assert.deepEqual(replay.kind === 'missed' && replay.events.map((e) => e.id), [102, 103, 104]);
    assert.deepEqual(backlog.since(104), { kind: 'missed', events: [] });
  });

  it('answers reset for an id older than it holds, or one it never gave out', () => {
    const backlog = new VmEventBacklog(3, 100);
    for (let id = 100; id < 105; id++) backlog.push(event(id));
    assert.deepEqual(backlog.since(100), { kind: 'reset', latestId: 104 }, '101 was overwritten');
    assert.deepEqual(backlog.since(105), { kind: 'reset', latestId: 104 }, 'an id from the future (another run)');
    assert.deepEqual(backlog.since(0), { kind: 'reset', latestId: 104 });
  });
});

describe('VmStateCauses', () => {
  function causes(state: () => string | undefined = () => 'RUNNING') {
    const hypervisor = strictFake<HypervisorService>('hypervisor', { stateIfDefined: state as never });
    const changes: CausedChange[] = [];
    return { causes: new VmStateCauses(hypervisor), changes, sink: (c: CausedChange) => void changes.push(c) };
  }

  it('driver events during an operation are the operation\'s', async () => {
    const { causes: c, changes, sink } = causes();
    await c.during(VMID, 'request', async () => c.attribute({ type: 'state', vmId: VMID, state: 'STARTING' }, sink));
    await c.during(VMID, 'reconcile', async () => c.attribute({ type: 'state', vmId: VMID, state: 'RUNNING' }, sink));
    assert.deepEqual(changes, [
      { vmid: VMID, state: 'STARTING', cause: 'request' },
      { vmid: VMID, state: 'RUNNING', cause: 'reconcile' },
    ]);
  });

  it('a change nobody asked for is the guest\'s once no error report follows; with one it is a crash, recorded together', async () => {
    const { causes: c, changes, sink } = causes();
    c.attribute({ type: 'state', vmId: VMID, state: 'STOPPED' }, sink);
    assert.deepEqual(changes, [], 'held for the error report');
    await sleep(FAILURE_REPORT_GRACE_MS + 50);
    assert.deepEqual(changes, [{ vmid: VMID, state: 'STOPPED', cause: 'guest' }]);
    c.attribute({ type: 'state', vmId: VMID, state: 'STOPPED' }, sink);
    c.attribute({ type: 'error', vmId: VMID, code: 'HYPERVISOR_ERROR', message: 'boom' }, sink);
    assert.deepEqual(changes[1], { vmid: VMID, state: 'STOPPED', lastError: 'boom', cause: 'crash' });
  });

  it('a held change goes before an operation\'s; a graceful stop that answers STOPPING keeps its cause until the VM settles', async () => {
    let state = 'RUNNING';
    const { causes: c, changes, sink } = causes(() => state);
    c.attribute({ type: 'state', vmId: VMID, state: 'STOPPING' }, sink);
    await c.during(VMID, 'request', async () => {
      state = 'STOPPING';
    });
    c.attribute({ type: 'state', vmId: VMID, state: 'STOPPED' }, sink);
    c.attribute({ type: 'state', vmId: VMID, state: 'STARTING' }, sink);
    assert.deepEqual(changes.map((x) => `${x.state} ${x.cause}`), ['STOPPING guest', 'STOPPED request']);
    c.onModuleDestroy();
    assert.deepEqual(changes.map((x) => `${x.state} ${x.cause}`), ['STOPPING guest', 'STOPPED request', 'STARTING guest']);
  });
});

/** A response whose client reads nothing: every write fills the socket. */
class StalledResponse extends EventEmitter {
  written: string[] = [];
  ended = false;
  destroyed = false;
  writableNeedDrain = false;
  write(chunk: string): boolean {
    this.written.push(chunk);
    this.writableNeedDrain = true;
    return false;
  }
  end(): void {
    this.ended = true;
  }
}

describe('VmEventStream', () => {
  it('a client that stops reading is dropped with EVENT_STREAM_BEHIND once more events wait than the bound', async () => {
    const events = new VmEvents(strictFake<AppConfig>('config', { eventBacklog: 100 }));
    const live = new LiveStream({ keyHash: 'k', expiresAt: Number.MAX_SAFE_INTEGER }, async () => null, new Clock());
    await live.start();
    const authorizer = strictFake<CatalogAuthorizer>('authorizer', { authorize: async () => ({}) as never });
    const views = new CatalogViews(new AuthenticatedUser('u', 'user', []), authorizer);
    const response = new StalledResponse();
    let closed = false;
    const stream = new VmEventStream(response as unknown as ServerResponse, live, views, { maxUnsent: 3, heartbeatMs: 60_000 }, () => (closed = true));
    stream.start(events, undefined);
    for (let i = 0; i < 3; i++) events.publish({ type: 'deleted', vmid: VMID, cid: CID });
    await sleep(10);
    assert.equal(closed, false, 'three waiting (one of them being written): not more than the bound yet');
    events.publish({ type: 'deleted', vmid: VMID, cid: CID });
    assert.equal(closed, true);
    assert.equal(response.ended, true);
    const last = response.written[response.written.length - 1];
    assert.match(last, /^event: end\ndata: \{"code":"EVENT_STREAM_BEHIND"/);
    assert.equal(response.written.filter((w) => w.startsWith('id: ')).length, 1, 'only the first event reached the socket');
  });
});

/** A response whose client reads everything at once. */
class ReadingResponse extends StalledResponse {
  override write(chunk: string): boolean {
    this.written.push(chunk);
    return true;
  }
}

describe('VmEvents in a cluster', () => {
  const config = strictFake<AppConfig>('config', { eventBacklog: 100 });

  it('another node\'s event is numbered here; an id this node did not give out gets reset', () => {
    const events = new VmEvents(config);
    const relayed: RelayedVmEvent[] = [];
    events.relayTo((event) => relayed.push(event));
    events.publish({ type: 'deleted', vmid: VMID, cid: CID });
    assert.deepEqual(relayed.map((e) => e.body), [{ type: 'deleted', vmid: VMID, cid: CID }], 'published here: sent on');
    const seen: number[] = [];
    const { replay } = events.follow({ event: (e) => seen.push(e.id), missed: () => assert.fail('no gap') }, undefined);
    assert.deepEqual(replay, { kind: 'missed', events: [] });
    events.deliver({ body: { type: 'created', vmid: VMID, cid: CID, name: 'x' }, timestamp: '2026-12-02T08:00:00.000Z' });
    assert.equal(relayed.length, 1, 'delivered from another node: never sent back out');
    assert.equal(seen.length, 1);
    const [id] = seen;
    assert.ok(id >= 1e15 && id < 8e15 + 100, 'a random start in a cluster');
    assert.equal(events.follow({ event: () => undefined, missed: () => undefined }, id + 1).replay.kind, 'reset');
  });

  it('a gap reaches an open stream as `event: reset`, after the events before it and before those after it, with the new numbering\'s id', async () => {
    const events = new VmEvents(config);
    events.relayTo(() => undefined);
    const live = new LiveStream({ keyHash: 'k', expiresAt: Number.MAX_SAFE_INTEGER }, async () => null, new Clock());
    await live.start();
    const authorizer = strictFake<CatalogAuthorizer>('authorizer', { authorize: async () => ({}) as never });
    const views = new CatalogViews(new AuthenticatedUser('u', 'user', []), authorizer);
    const response = new ReadingResponse();
    const stream = new VmEventStream(response as unknown as ServerResponse, live, views, { maxUnsent: 10, heartbeatMs: 60_000 }, () => undefined);
    stream.start(events, undefined);
    events.publish({ type: 'deleted', vmid: VMID, cid: CID });
    events.missed();
    events.publish({ type: 'deleted', vmid: VMID, cid: CID });
    await sleep(10);
    const frames = response.written.map((frame) => frame.split('\n').slice(0, 2));
    assert.equal(frames.length, 3);
    assert.deepEqual(frames.map(([, name]) => name), ['event: deleted', 'event: reset', 'event: deleted']);
    const ids = frames.map(([id]) => Number(id.slice('id: '.length)));
    assert.equal(ids[2], ids[1] + 1, 'the events after the reset follow its id');
    assert.equal(events.follow({ event: () => undefined, missed: () => undefined }, ids[0]).replay.kind, 'reset', 'ids from before the gap resume nothing');
    stream.finish();
  });
});

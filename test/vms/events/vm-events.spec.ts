import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HypervisorService } from '../../../src/hypervisor/hypervisor.service';
import { json, SseClient, SseEvent } from '../../support/sse-client';
import { TestApp } from '../../support/test-app';
import { createEfiVm, makeVmWorld, setState, VmWorld } from '../../support/vm-fixture';
import { sleep } from '../../support/wait';

/**
 * GET /v/events through a listening server, read by a small SSE client: causes of state
 * changes (request, guest, crash), who sees what (view, a share revoked mid-stream, logout),
 * resuming with Last-Event-ID, filters and their refusals.
 */

const ALL = { manage: true, view: true, create: true, alter: true, remove: true, state: true, interact: true };
const NONE = { manage: false, view: false, create: false, alter: false, remove: false, state: false, interact: false };

function percentiles(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))].toFixed(1);
  return `p50 ${at(50)} ms, p99 ${at(99)} ms, max ${sorted[sorted.length - 1].toFixed(1)} ms (n=${sorted.length})`;
}

type StateEvent = { id: number; type: 'state'; vmid: string; cid: string; previous: string; state: string; cause: string; timestamp: string };

describe('GET /v/events', () => {
  let t: TestApp;
  let port: number;
  let w: VmWorld;
  const open: SseClient[] = [];
  const figures: string[] = [];

  before(async () => {
    // Heartbeats every second, so a test can see them.
    t = await TestApp.start({ env: { VELOCITY_EVENT_HEARTBEAT: '1' } });
    port = await t.listen();
    w = await makeVmWorld(t, 'events');
  });
  after(async () => {
    for (const client of open) client.close();
    await t.close();
    for (const line of figures) console.log(`# ${line}`);
  });

  async function watch(token: string | undefined, query: Record<string, string> = {}, headers: Record<string, string> = {}): Promise<SseClient> {
    const qs = new URLSearchParams(query).toString();
    const client = await SseClient.open(`http://127.0.0.1:${port}/v/events${qs ? `?${qs}` : ''}`, {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    });
    open.push(client);
    return client;
  }

  const stateOf = (vmid: string, state: string) => (e: SseEvent) => e.event === 'state' && json(e).vmid === vmid && json(e).state === state;
  const ofVm = (vmid: string) => (e: SseEvent) => e.event !== 'end' && e.event !== 'reset' && json(e).vmid === vmid;

  it('answers an event stream with the headers proxies need', async () => {
    const stream = await watch(w.owner.token);
    assert.equal(stream.status, 200);
    assert.match(String(stream.response.headers['content-type']), /^text\/event-stream/);
    assert.match(String(stream.response.headers['cache-control']), /no-cache/);
    assert.equal(stream.response.headers['x-accel-buffering'], 'no');
    assert.ok(stream.response.headers['x-request-id']);
    assert.equal(stream.response.headers['content-encoding'], undefined);
    stream.close();
  });

  it('reports creation, requested state changes, a definition change and deletion, in order, with increasing ids', async () => {
    const stream = await watch(w.owner.token, { cid: w.cid });
    const vmid = await createEfiVm(t, w.owner.token, { name: 'lifecycle', catalog: w.cid });
    assert.equal((await setState(t, w.owner.token, vmid, 'RUNNING')).status, 200);
    assert.equal((await setState(t, w.owner.token, vmid, 'STOPPED', true)).status, 200);
    assert.equal((await t.call({ method: 'PATCH', url: '/v', token: w.owner.token, body: { vmid, memory_size_mb: 512 } })).status, 200);
    assert.equal((await t.call({ method: 'DELETE', url: '/v', token: w.owner.token, body: { vmid } })).status, 200);
    await stream.waitFor((e) => e.event === 'deleted' && json(e).vmid === vmid, 5000, 'the deleted event');
    const seen = stream.events.filter(ofVm(vmid));
    assert.deepEqual(
      seen.map((e) => (e.event === 'state' ? `${json(e).previous}→${json(e).state} ${json(e).cause}` : e.event)),
      ['created', 'STOPPED→STARTING request', 'STARTING→RUNNING request', 'RUNNING→STOPPING request', 'STOPPING→STOPPED request', 'changed', 'deleted'],
    );
    const ids = seen.map((e) => Number(e.id));
    assert.deepEqual([...ids].sort((a, b) => a - b), ids, 'ids increase');
    for (const e of seen) {
      const data = json(e);
      assert.equal(String(data.id), e.id);
      assert.equal(data.type, e.event);
      assert.equal(data.cid, w.cid);
      assert.ok(!Number.isNaN(Date.parse(data.timestamp)));
    }
    assert.equal(json(seen[0]).name, 'lifecycle');
    stream.close();
  });

  it('a clone is a creation in the target catalog; a refused clone publishes nothing', async () => {
    const source = await createEfiVm(t, w.owner.token, { name: 'clone-source', catalog: w.cid });
    const stream = await watch(w.owner.token, { cid: w.cid });
    const clone = (name: string) => t.call({ method: 'POST', url: '/v/clone', token: w.owner.token, body: { vmid: source, catalog: w.cid, name } });
    assert.equal((await clone('clone-source')).status, 409, 'the name is taken');
    const made = await clone('clone-copy');
    assert.equal(made.status, 200, JSON.stringify(made.body));
    await stream.waitFor((e) => e.event === 'created' && json(e).vmid === made.body.vmid, 5000, 'the clone\'s creation');
    assert.deepEqual(
      stream.events.map((e) => `${e.event} ${json(e).name} ${json(e).cid}`),
      [`created clone-copy ${w.cid}`],
    );
    stream.close();
  });

  it('nothing is published for a change that was refused or rolled back', async () => {
    const stream = await watch(w.owner.token, { cid: w.cid });
    const vmid = await createEfiVm(t, w.owner.token, { name: 'taken', catalog: w.cid });
    // The name is checked inside the creation's transaction, which rolls back.
    const duplicate = await t.call({ method: 'PUT', url: '/v/efi', token: w.owner.token, body: { name: 'taken', catalog: w.cid, cpu_count: 1, memory_size_mb: 256 } });
    assert.equal(duplicate.status, 409);
    assert.equal((await t.call({ method: 'PATCH', url: '/v', token: w.owner.token, body: { vmid, memory_size_mb: 16_777_216 } })).status, 422);
    const later = await createEfiVm(t, w.owner.token, { name: 'later', catalog: w.cid });
    await stream.waitFor((e) => e.event === 'created' && json(e).vmid === later, 5000, 'the later creation');
    assert.deepEqual(
      stream.events.map((e) => `${e.event} ${json(e).name ?? ''}`.trim()),
      ['created taken', 'created later'],
    );
    stream.close();
  });

  it('a guest that powers itself off (sim poweroff_after_ms): RUNNING → STOPPED with cause guest within a second', async () => {
    const stream = await watch(w.owner.token);
    const vmid = await createEfiVm(t, w.owner.token, { name: 'self-stopping', catalog: w.cid, sim: { poweroff_after_ms: 300 } });
    assert.equal((await setState(t, w.owner.token, vmid, 'RUNNING')).status, 200);
    const running = await stream.waitFor(stateOf(vmid, 'RUNNING'), 5000, 'RUNNING');
    const stopped = await stream.waitFor(stateOf(vmid, 'STOPPED'), 5000, 'STOPPED');
    const transitions = stream.events.filter((e) => e.event === 'state' && json(e).vmid === vmid).map((e) => json<StateEvent>(e));
    assert.deepEqual(
      transitions.slice(-2).map((e) => [e.previous, e.state, e.cause]),
      [
        ['RUNNING', 'STOPPING', 'guest'],
        ['STOPPING', 'STOPPED', 'guest'],
      ],
    );
    // The guest's timer starts at RUNNING: the event is due 300 ms after that, and must arrive within a second of it.
    const lag = stopped.receivedAt - running.receivedAt - 300;
    assert.ok(lag < 1000, `STOPPED arrived ${lag.toFixed(0)} ms after the guest powered off`);
    assert.equal(stream.named('error').filter((e) => json(e).vmid === vmid).length, 0, 'no error event for a clean power-off');
    stream.close();
  });

  it('a crash (sim crash_after_ms): RUNNING → STOPPED with cause crash, then an error event with last_error', async () => {
    const stream = await watch(w.owner.token, { cid: w.cid });
    const vmid = await createEfiVm(t, w.owner.token, { name: 'crashing', catalog: w.cid, sim: { crash_after_ms: 200 } });
    assert.equal((await setState(t, w.owner.token, vmid, 'RUNNING')).status, 200);
    const error = await stream.waitFor((e) => e.event === 'error' && json(e).vmid === vmid, 5000, 'the error event');
    const stopped = json<StateEvent>(await stream.waitFor(stateOf(vmid, 'STOPPED'), 10, 'STOPPED'));
    assert.deepEqual([stopped.previous, stopped.cause], ['RUNNING', 'crash']);
    assert.ok(stopped.id < Number(error.id), 'the state change comes first');
    assert.match(json(error).last_error, /simulated crash/);
    const vm = await t.call({ method: 'GET', url: '/v', token: w.owner.token, query: { vmid } });
    assert.equal(vm.body.last_error, json(error).last_error, 'the event says what GET /v says');
    stream.close();
  });

  it('a failed start: the request\'s state changes and an error event', async () => {
    const stream = await watch(w.owner.token, { cid: w.cid });
    const vmid = await createEfiVm(t, w.owner.token, { name: 'failing', catalog: w.cid, sim: { fail: { start: 'no firmware today' } } });
    assert.equal((await setState(t, w.owner.token, vmid, 'RUNNING')).status, 500);
    const error = await stream.waitFor((e) => e.event === 'error' && json(e).vmid === vmid, 5000, 'the error event');
    assert.match(json(error).last_error, /no firmware today/);
    const causes = stream.events.filter((e) => e.event === 'state' && json(e).vmid === vmid).map((e) => json(e).cause);
    assert.ok(causes.every((c) => c === 'request'), causes.join());
    stream.close();
  });

  describe('who receives what', () => {
    let viewer: { token: string; gid: string };
    let blind: { token: string; gid: string };
    let shared: string;
    let sentinelCatalog: string;
    let sharedVm: string;
    let sentinelVm: string;

    before(async () => {
      const viewerUser = await t.createUser(w.root, 'events-viewer');
      const blindUser = await t.createUser(w.root, 'events-blind');
      viewer = { token: viewerUser.token, gid: viewerUser.personalGid };
      blind = { token: blindUser.token, gid: blindUser.personalGid };
      shared = (await t.call({ method: 'PUT', url: '/c', token: w.owner.token, body: { group: w.gid, label: 'shared for events' } })).body.cid;
      sentinelCatalog = (await t.call({ method: 'PUT', url: '/c', token: w.owner.token, body: { group: w.gid, label: 'sentinel' } })).body.cid;
      for (const [cid, gid, flags] of [
        [shared, viewer.gid, { ...NONE, view: true }],
        [sentinelCatalog, viewer.gid, { ...NONE, view: true }],
        // Every permission but view: the catalog is visible, its events are not.
        [shared, blind.gid, { ...ALL, view: false }],
        [sentinelCatalog, blind.gid, { ...NONE, view: true }],
      ] as const) {
        assert.equal((await t.call({ method: 'POST', url: '/c/share', token: w.owner.token, body: { cid, gid, ...flags } })).status, 200);
      }
      sharedVm = await createEfiVm(t, w.owner.token, { name: 'shared-vm', catalog: shared, sim: { poweroff_after_ms: 100 } });
      sentinelVm = await createEfiVm(t, w.owner.token, { name: 'sentinel-vm', catalog: sentinelCatalog });
    });

    /** Starts the sentinel VM and waits until `streams` saw it: what was published before has been judged. */
    async function sentinel(streams: SseClient[], state = 'RUNNING'): Promise<void> {
      assert.equal((await setState(t, w.owner.token, sentinelVm, state, true)).status, 200);
      for (const s of streams) await s.waitFor((e) => e.event === 'state' && json(e).vmid === sentinelVm && json(e).state === state && Number(e.id) > 0, 5000, `the sentinel ${state}`);
    }

    it('a user without view on a catalog receives none of its events (the guest power-off included); one with view does', async () => {
      const seeing = await watch(viewer.token);
      const notSeeing = await watch(blind.token);
      assert.equal((await setState(t, w.owner.token, sharedVm, 'RUNNING')).status, 200);
      await seeing.waitFor(stateOf(sharedVm, 'STOPPED'), 5000, 'the guest power-off');
      await sentinel([seeing, notSeeing]);
      assert.deepEqual(notSeeing.events.filter(ofVm(sharedVm)), []);
      assert.deepEqual(
        seeing.events.filter(ofVm(sharedVm)).map((e) => `${json(e).state} ${json(e).cause}`),
        ['STARTING request', 'RUNNING request', 'STOPPING guest', 'STOPPED guest'],
      );
      const filtered = await watch(blind.token, { cid: shared });
      assert.equal(filtered.status, 401);
      assert.equal((await filtered.errorBody()).code, 'PERMISSION_DENIED');
      for (const s of [seeing, notSeeing]) s.close();
      await setState(t, w.owner.token, sentinelVm, 'STOPPED', true);
    });

    it('revoking a share mid-stream stops that catalog\'s events at once; a filtered stream ends', async () => {
      const all = await watch(viewer.token);
      const filtered = await watch(viewer.token, { cid: shared });
      assert.equal((await setState(t, w.owner.token, sharedVm, 'RUNNING')).status, 200);
      await all.waitFor(stateOf(sharedVm, 'STOPPED'), 5000, 'the first power-off');
      await filtered.waitFor(stateOf(sharedVm, 'STOPPED'), 5000, 'the first power-off (filtered)');
      const before = all.events.filter(ofVm(sharedVm)).length;
      assert.equal((await t.call({ method: 'DELETE', url: '/c/share', token: w.owner.token, body: { cid: shared, gid: viewer.gid } })).status, 200);
      assert.equal((await setState(t, w.owner.token, sharedVm, 'RUNNING')).status, 200);
      await sentinel([all]);
      assert.equal(all.events.filter(ofVm(sharedVm)).length, before, 'nothing of the revoked catalog after the revocation');
      await filtered.untilEnded(2000);
      assert.deepEqual(json(filtered.named('end')[0]).code, 'CATALOG_NOT_FOUND');
      assert.equal(filtered.events.filter((e) => e.event === 'state' && json(e).state === 'STARTING').length, 1, 'the filtered stream saw only the first start');
      all.close();
      await setState(t, w.owner.token, sentinelVm, 'STOPPED', true);
      await t.call({ method: 'POST', url: '/c/share', token: w.owner.token, body: { cid: shared, gid: viewer.gid, ...NONE, view: true } });
    });

    it('logging out ends the stream with AUTH_REQUIRED; an expired key too', async () => {
      const token = await t.login('events-viewer', 'events-viewer-password');
      const stream = await watch(token);
      assert.equal(stream.status, 200);
      assert.equal((await t.call({ method: 'DELETE', url: '/u/auth', token })).status, 200);
      await stream.untilEnded(2000);
      assert.equal(json(stream.named('end')[0]).code, 'AUTH_REQUIRED');

      const expiring = await watch(await t.login('events-viewer', 'events-viewer-password'));
      t.clock.advance(t.config.authkeyTtlSeconds + 1);
      try {
        await expiring.untilEnded(3000);
      } finally {
        t.clock.advance(-(t.config.authkeyTtlSeconds + 1));
      }
      assert.equal(json(expiring.named('end')[0]).code, 'AUTH_REQUIRED');
    });
  });

  it('resuming with Last-Event-ID (header or query) after a disconnect gets exactly the missed events', async () => {
    const vmid = await createEfiVm(t, w.owner.token, { name: 'resumed', catalog: w.cid });
    const reference = await watch(w.owner.token, { cid: w.cid });
    const first = await watch(w.owner.token, { cid: w.cid });
    assert.equal((await setState(t, w.owner.token, vmid, 'RUNNING')).status, 200);
    await first.waitFor(stateOf(vmid, 'RUNNING'), 5000, 'RUNNING');
    const lastSeen = first.lastEventId!;
    first.close();
    assert.equal((await setState(t, w.owner.token, vmid, 'PAUSED')).status, 200);
    assert.equal((await setState(t, w.owner.token, vmid, 'STOPPED')).status, 200);
    await reference.waitFor(stateOf(vmid, 'STOPPED'), 5000, 'STOPPED');
    const missed = reference.events.filter((e) => Number(e.id) > Number(lastSeen)).map((e) => e.id);
    assert.ok(missed.length >= 4, `missed: ${missed.join()}`);

    for (const resumed of [await watch(w.owner.token, { cid: w.cid }, { 'last-event-id': lastSeen }), await watch(w.owner.token, { cid: w.cid, last_event_id: lastSeen })]) {
      await resumed.waitForCount(() => true, missed.length, 5000, 'the missed events');
      await sleep(100);
      assert.deepEqual(resumed.events.map((e) => e.id), missed, 'exactly the missed events, in order');
      resumed.close();
    }
    // Up to date: nothing is replayed.
    const current = await watch(w.owner.token, { cid: w.cid }, { 'last-event-id': reference.lastEventId! });
    await sleep(100);
    assert.deepEqual(current.events, []);
    for (const s of [reference, current]) s.close();
  });

  it('an id the backlog does not cover gets an explicit reset, then live events', async () => {
    const stream = await watch(w.owner.token, { cid: w.cid }, { 'last-event-id': '1' });
    const reset = await stream.waitFor((e) => e.event === 'reset', 2000, 'reset');
    assert.ok(Number(reset.id) > 1);
    const vmid = await createEfiVm(t, w.owner.token, { name: 'after-reset', catalog: w.cid });
    await stream.waitFor((e) => e.event === 'created' && json(e).vmid === vmid, 2000, 'a live event');
    stream.close();
  });

  it('refuses bad filters and ids as the guard does: 400, 404, 401', async () => {
    const other = await makeVmWorld(t, 'events-other');
    const otherVm = await createEfiVm(t, other.owner.token, { name: 'theirs', catalog: other.cid });
    const ownVm = await createEfiVm(t, w.owner.token, { name: 'mine', catalog: w.cid });
    const cases: Array<[string | undefined, Record<string, string>, Record<string, string>, number, string]> = [
      [w.owner.token, { cid: 'not-a-uuid' }, {}, 400, 'VALIDATION_FAILED'],
      [w.owner.token, { vmid: '42' }, {}, 400, 'VALIDATION_FAILED'],
      [w.owner.token, { last_event_id: 'yesterday' }, {}, 400, 'VALIDATION_FAILED'],
      [w.owner.token, {}, { 'last-event-id': '-5' }, 400, 'VALIDATION_FAILED'],
      [w.owner.token, { cid: other.cid }, {}, 404, 'CATALOG_NOT_FOUND'],
      [w.owner.token, { vmid: otherVm }, {}, 404, 'VM_NOT_FOUND'],
      [w.owner.token, { vmid: ownVm, cid: other.cid }, {}, 404, 'VM_NOT_FOUND'],
      [w.owner.token, { unknown: 'x' }, {}, 400, 'VALIDATION_FAILED'],
      [undefined, {}, {}, 401, 'AUTH_REQUIRED'],
    ];
    for (const [token, query, headers, status, code] of cases) {
      const reply = await watch(token, query, headers);
      assert.equal(reply.status, status, `${JSON.stringify(query)} ${JSON.stringify(headers)}`);
      assert.equal((await reply.errorBody()).code, code);
    }
    const byQueryKey = await watch(undefined, { authkey: w.owner.token, vmid: ownVm });
    assert.equal(byQueryKey.status, 200, 'the authkey may come as a query parameter (EventSource cannot set headers)');
    byQueryKey.close();
  });

  it('sends heartbeat comments while idle', async () => {
    const stream = await watch(w.owner.token, { vmid: await createEfiVm(t, w.owner.token, { name: 'quiet', catalog: w.cid }) });
    await sleep(2300);
    assert.ok(stream.comments >= 3, `${stream.comments} comment lines (the opening one and two heartbeats)`);
    assert.deepEqual(stream.events, []);
    stream.close();
  });

  it('500 VMs changing state at once: every event, in order per VM (and the latency from the driver\'s report to the client)', async () => {
    const many = await makeVmWorld(t, 'events-many');
    const vmids: string[] = [];
    let began = performance.now();
    for (let i = 0; i < 500; i++) vmids.push(await createEfiVm(t, many.owner.token, { name: `many-${i}`, catalog: many.cid }));
    figures.push(`500 VMs created in ${(performance.now() - began).toFixed(0)} ms`);
    const stream = await watch(many.owner.token, { cid: many.cid });
    // When the driver reported each change: the start of the latency measured.
    const reported = new Map<string, number>();
    const subscription = t.app.get(HypervisorService).events$.subscribe((e) => {
      if (e.type === 'state') reported.set(`${e.vmId} ${e.state}`, performance.now());
    });
    began = performance.now();
    try {
      const replies = await Promise.all(vmids.map((vmid) => setState(t, many.owner.token, vmid, 'RUNNING')));
      assert.ok(replies.every((r) => r.status === 200));
      const events = await stream.waitForCount((e) => e.event === 'state', 1000, 60_000, 'two state events per VM');
      figures.push(`500 VMs started at once: 1000 state events in ${(performance.now() - began).toFixed(0)} ms`);
      await sleep(200);
      assert.equal(stream.events.length, 1000, 'nothing more');
      const perVm = new Map<string, string[]>();
      for (const e of events) perVm.set(json(e).vmid, [...(perVm.get(json(e).vmid) ?? []), `${json(e).previous}→${json(e).state}`]);
      assert.equal(perVm.size, 500);
      for (const [vmid, seen] of perVm) assert.deepEqual(seen, ['STOPPED→STARTING', 'STARTING→RUNNING'], vmid);
      const ids = events.map((e) => Number(e.id));
      assert.ok(ids.every((id, i) => i === 0 || id > ids[i - 1]), 'ids increase');
      figures.push(`latency driver report → client, 1000 events of 500 VMs starting at once: ${percentiles(events.map((e) => e.receivedAt - reported.get(`${json(e).vmid} ${json(e).state}`)!))}`);
    } finally {
      subscription.unsubscribe();
    }

    // The same one VM at a time, 500 events: the latency without a burst queued ahead.
    const single = vmids.slice(0, 125);
    const alone: number[] = [];
    for (const vmid of single) {
      for (const state of ['PAUSED', 'RUNNING'] as const) {
        const before = stream.events.length;
        const sub = t.app.get(HypervisorService).events$.subscribe((e) => {
          if (e.type === 'state' && e.vmId === vmid) reported.set(`${e.vmId} ${e.state}`, performance.now());
        });
        assert.equal((await setState(t, many.owner.token, vmid, state)).status, 200);
        sub.unsubscribe();
        const arrived = await stream.waitForCount(() => true, before + 2, 5000, `${vmid} ${state}`);
        for (const e of arrived.slice(before)) alone.push(e.receivedAt - reported.get(`${json(e).vmid} ${json(e).state}`)!);
      }
    }
    figures.push(`latency driver report → client, 500 events one VM at a time: ${percentiles(alone)}`);
    stream.close();
  });
});

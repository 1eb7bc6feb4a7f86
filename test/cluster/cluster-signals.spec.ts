import assert from 'node:assert/strict';
import { AddressInfo, connect, createServer, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Client } from 'pg';
import { ClusterRelay } from '../../src/cluster/cluster-relay';
import { MAX_SIGNAL_BYTES } from '../../src/cluster/cluster-signal';
import { AccessChange, AccessChanges } from '../../src/common/access-changes';
import { Clock } from '../../src/common/clock';
import { LiveStreams, StreamEnd } from '../../src/common/live-streams';
import { AppConfig } from '../../src/config/app-config';
import { AuthkeyCache } from '../../src/identity/auth/authkey-cache';
import { AuthenticatedUser } from '../../src/identity/auth/authenticated-user';
import { VmEvent } from '../../src/vms/events/vm-event';
import { VmEvents } from '../../src/vms/events/vm-events.service';
import { LogCapture } from '../support/log-capture';
import { strictFake } from '../support/strict-fake';
import { TestApp } from '../support/test-app';
import { eventually, sleep, within } from '../support/wait';

/**
 * The cross-node signals on a real PostgreSQL: two relays ("nodes" a and b) in this process,
 * each with its own AccessChanges and VmEvents, on one database of their own. The server is
 * named by VELOCITY_TEST_POSTGRES_URL (a URL of a user that may create databases); without
 * it the PostgreSQL tests are skipped, saying so.
 */

const ADMIN_URL = process.env.VELOCITY_TEST_POSTGRES_URL;
const VMID = '1e7d2c9a-5b3f-4a8e-9c6d-2f1a0b9e8d7c';
const CID = '3f2a8c1e-7b4d-4e9a-a1c2-5d6e7f8a9b0c';

describe('cluster signals without a database URL', () => {
  it('a single server has no relay, opens no connection and never loads the pg driver', async () => {
    const server = await TestApp.start();
    try {
      assert.equal(server.config.databaseUrl, undefined);
      assert.equal(server.app.get(ClusterRelay), null);
      assert.equal(Object.keys(require.cache).some((path) => /[\\/]node_modules[\\/]pg[\\/]/.test(path)), false, 'pg was loaded');
    } finally {
      await server.close();
    }
  });
});

/** One node's in-memory parts and what they heard. */
class Node {
  readonly accessChanges = new AccessChanges();
  readonly vmEvents = new VmEvents(strictFake<AppConfig>('config', { eventBacklog: 100 }));
  readonly heard: AccessChange[] = [];
  readonly events: VmEvent[] = [];
  /** The latest ids that `missed` (a gap) announced. */
  readonly gaps: number[] = [];
  readonly relay: ClusterRelay;

  constructor(url: string, name: string) {
    this.accessChanges.subscribe((change) => this.heard.push(change));
    this.vmEvents.follow({ event: (event) => this.events.push(event), missed: (latestId) => this.gaps.push(latestId) }, undefined);
    this.relay = new ClusterRelay({ url, nodeName: name, accessChanges: this.accessChanges, vmEvents: this.vmEvents, firstRetryMs: 50, maxRetryMs: 200 });
  }

  heardKinds(kind: AccessChange['kind']): AccessChange[] {
    return this.heard.filter((change) => change.kind === kind);
  }
}

/**
 * A TCP relay to the PostgreSQL server whose open connections can be frozen: bytes stop
 * flowing both ways and nothing is closed, as when a network drops a connection silently.
 * Connections made after a freeze flow.
 */
async function freezableProxy(target: URL): Promise<{ url: (database: string) => string; freeze: () => void; close: () => void }> {
  const pairs: Array<[Socket, Socket]> = [];
  const server = createServer((inbound) => {
    const outbound = connect(Number(target.port || 5432), target.hostname);
    inbound.pipe(outbound).pipe(inbound);
    inbound.on('error', () => outbound.destroy());
    outbound.on('error', () => inbound.destroy());
    pairs.push([inbound, outbound]);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (database) => Object.assign(new URL(target), { hostname: '127.0.0.1', port: String(port), pathname: `/${database}` }).toString(),
    freeze: () => {
      for (const [inbound, outbound] of pairs.splice(0)) {
        inbound.unpipe(outbound);
        outbound.unpipe(inbound);
        inbound.pause();
        outbound.pause();
      }
    },
    close: () => {
      server.close();
      for (const [inbound, outbound] of pairs) [inbound, outbound].forEach((socket) => socket.destroy());
    },
  };
}

describe('cluster signals through PostgreSQL LISTEN/NOTIFY', { skip: ADMIN_URL ? false : 'VELOCITY_TEST_POSTGRES_URL is not set: no PostgreSQL server to test against' }, () => {
  const database = `bus_signals_test_${process.pid}`;
  let admin: Client;
  let url: string;
  let a: Node;
  let b: Node;

  before(async () => {
    const { Client } = await import('pg');
    admin = new Client({ connectionString: ADMIN_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${database}`);
    await admin.query(`CREATE DATABASE ${database}`);
    const parsed = new URL(ADMIN_URL!);
    parsed.pathname = `/${database}`;
    url = parsed.toString();
    a = new Node(url, 'a');
    b = new Node(url, 'b');
    await a.relay.onModuleInit();
    await b.relay.onModuleInit();
  });

  after(async () => {
    await a?.relay.onModuleDestroy();
    await b?.relay.onModuleDestroy();
    await admin?.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin?.end();
  });

  /** Publishes a marker on `from` and waits until `to` hears it: what `from` sent before has reached `to` too (NOTIFY keeps commit order). */
  async function settled(from: Node, to: Node): Promise<void> {
    const gid = `marker-${Math.random()}`;
    from.accessChanges.publish({ kind: 'quota-changed', gid });
    await eventually(() => to.heard.some((change) => change.kind === 'quota-changed' && change.gid === gid), `${gid} on the other node`);
  }

  it('an access change published on a reaches b\'s listeners, and a\'s only once (its own signal comes back and is skipped)', async () => {
    a.accessChanges.publish({ kind: 'catalog-changed', cid: CID });
    await eventually(() => b.heard.some((change) => change.kind === 'catalog-changed' && change.cid === CID), 'the change on b');
    await settled(b, a); // a has heard everything sent before b's marker, its own signal included
    assert.deepEqual(a.heardKinds('catalog-changed'), [{ kind: 'catalog-changed', cid: CID }]);
    assert.deepEqual(b.heardKinds('catalog-changed'), [{ kind: 'catalog-changed', cid: CID }]);
  });

  it('a VM event published on a reaches b\'s followers, numbered by b; an id of a\'s resumes nothing on b', async () => {
    a.vmEvents.publish({ type: 'state', vmid: VMID, cid: CID, previous: 'STOPPED', state: 'STARTING', cause: 'request' });
    const onA = a.events.at(-1)!;
    await eventually(() => b.events.some((event) => event.data.type === 'state' && event.vmid === VMID), 'the event on b');
    const onB = b.events.at(-1)!;
    assert.deepEqual({ ...onB.data, id: 0 }, { ...onA.data, id: 0 }, 'the same event, with the time it happened on a');
    assert.notEqual(onB.id, onA.id);
    assert.equal(b.vmEvents.follow({ event: () => undefined, missed: () => undefined }, onA.id).replay.kind, 'reset', 'a\'s id means nothing on b');
    const resumed = b.vmEvents.follow({ event: () => undefined, missed: () => undefined }, onB.id - 1).replay;
    assert.deepEqual(resumed.kind === 'missed' && resumed.events.map((event) => event.id), [onB.id], 'b\'s own ids resume');
    await settled(b, a);
    assert.equal(a.events.filter((event) => event.vmid === VMID).length, 1, 'a did not hear its own event twice');
  });

  it('a revoked authkey is refused on the other node within a second: its cache entry and its streams go', async () => {
    const cache = new AuthkeyCache(b.accessChanges);
    const streams = new LiveStreams(new Clock(), b.accessChanges);
    let loads = 0;
    const load = async () => (loads++, { user: new AuthenticatedUser('u1', 'alice', []), expiresAt: null });
    const latencies: number[] = [];
    for (let i = 0; i < 10; i++) {
      const keyHash = `key-${i}`;
      await cache.resolve(keyHash, 0, load);
      const stream = await streams.open({ keyHash, expiresAt: null }, async () => null);
      const ended = new Promise<StreamEnd>((resolve) => stream.onEnd(resolve));
      const revokedAt = performance.now();
      a.accessChanges.publish({ kind: 'authkey-dropped', keyHash });
      assert.deepEqual(await within(ended, 1000, `the end of the stream of ${keyHash} on b`), { code: 4401, reason: 'AUTH_REQUIRED' });
      latencies.push(performance.now() - revokedAt);
      const before = loads;
      await cache.resolve(keyHash, 0, load);
      assert.equal(loads, before + 1, 'b reads the revoked key from the database again');
    }
    const worst = Math.max(...latencies);
    console.log(`revocation a -> b: worst ${worst.toFixed(1)} ms, median ${latencies.sort((x, y) => x - y)[5].toFixed(1)} ms over 10`);
    assert.ok(worst < 1000, `a revocation took ${worst} ms`);
  });

  it('after its listening session is killed, b reconnects, drops every cache and resets its event streams, and signals flow again', async () => {
    const logs = LogCapture.start();
    try {
      const heardBefore = b.heardKinds('everything-changed').length;
      const gapsBefore = b.gaps.length;
      const { rowCount } = await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'velocity-signals:b'`, [database]);
      assert.equal(rowCount, 1, 'b has one listening session');
      await eventually(() => b.gaps.length > gapsBefore && b.relay.connected, 'b reconnected');
      assert.ok(b.heardKinds('everything-changed').length > heardBefore, 'b dropped every cache');
      const ids = b.events.at(-1)?.id;
      await settled(a, b);
      a.vmEvents.publish({ type: 'deleted', vmid: VMID, cid: CID });
      await eventually(() => b.events.some((event) => event.data.type === 'deleted'), 'an event after the reconnection');
      assert.ok(b.events.at(-1)!.id !== ids, 'b numbers afresh after the gap');
      assert.equal(b.vmEvents.follow({ event: () => undefined, missed: () => undefined }, ids!).replay.kind, 'reset', 'an id from before the gap is not resumed');
      assert.equal(logs.containing('lost the connection').length, 1, 'the loss is logged once');
      assert.equal(logs.containing('reconnected').length, 1, 'the reconnection is logged once');
    } finally {
      logs.stop();
    }
  });

  it('a signal too large for NOTIFY is not sent: the others are told to reload everything instead, and later signals flow', async () => {
    const logs = LogCapture.start();
    try {
      const heardBefore = b.heardKinds('everything-changed').length;
      const gapsBefore = b.gaps.length;
      a.vmEvents.publish({ type: 'error', vmid: VMID, cid: CID, last_error: 'x'.repeat(MAX_SIGNAL_BYTES) });
      await eventually(() => b.gaps.length > gapsBefore, 'the reset on b');
      assert.equal(b.heardKinds('everything-changed').length, heardBefore + 1);
      assert.equal(b.events.some((event) => event.data.type === 'error'), false, 'the event itself did not travel');
      assert.equal(a.events.at(-1)!.data.type, 'error', 'a\'s own streams have it');
      assert.equal(logs.containing('too large for NOTIFY').length, 1);
      await settled(a, b);
    } finally {
      logs.stop();
    }
  });

  it('a session lost silently (the network drops it without a word) is found dead within seconds and replaced', async () => {
    const proxy = await freezableProxy(new URL(ADMIN_URL!));
    const c = new Node(proxy.url(database), 'c');
    try {
      await c.relay.onModuleInit();
      await settled(a, c);
      proxy.freeze();
      const frozenAt = performance.now();
      a.accessChanges.publish({ kind: 'catalog-vms-changed', cid: CID });
      await eventually(() => c.heardKinds('everything-changed').length > 0, 'c dropping its caches', 10_000);
      await eventually(() => c.gaps.length > 0 && c.relay.connected, 'c reconnected', 5_000);
      console.log(`a silently lost session was replaced after ${(performance.now() - frozenAt).toFixed(0)} ms`);
      assert.equal(c.heardKinds('catalog-vms-changed').length, 0, 'what was sent in between is lost, and made up for by dropping everything');
      await settled(a, c);
    } finally {
      await c.relay.onModuleDestroy();
      proxy.close();
    }
  });

  it('signals published while the session is down are sent once it is back', async () => {
    await settled(a, b);
    // Kill a's session and publish at once: the signal waits for the reconnection.
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'velocity-signals:a'`, [database]);
    await eventually(() => !a.relay.connected, 'a noticed');
    a.accessChanges.publish({ kind: 'vm-record-changed', vmid: VMID });
    await eventually(() => b.heard.some((change) => change.kind === 'vm-record-changed'), 'the waiting signal on b');
    await sleep(50);
    assert.ok(a.relay.connected);
  });
});

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from 'pg';
import { CLUSTER_HEARTBEAT_SECONDS, CLUSTER_ROOT_PASSWORD, ClusterNodes } from '../support/cluster-nodes';
import type { TestDatabase } from '../support/postgres';
import { ServerProcess } from '../support/server-process';
import { json, SseClient } from '../support/sse-client';
import { sleep } from '../support/wait';
import { openWebSocket, refusedUpgradeStatus } from '../support/websocket-client';

/**
 * Three Velocity nodes (separate processes, sim driver) on one PostgreSQL database, as the
 * issue describes them: VMs created through A and placed on B, driven through C, events read
 * through A, a share revoked on C and refused by A, node B killed with SIGKILL and brought
 * back.
 */

const ROOT_PASSWORD = CLUSTER_ROOT_PASSWORD;
const HEARTBEAT_SECONDS = CLUSTER_HEARTBEAT_SECONDS;

interface Reply {
  status: number;
  body: any;
}

async function call(node: ServerProcess, token: string | undefined, method: string, path: string, body?: unknown): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${node.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: response.status, body: await response.json().catch(() => ({})) };
}

async function ok(node: ServerProcess, token: string | undefined, method: string, path: string, body?: unknown): Promise<any> {
  const reply = await call(node, token, method, path, body);
  assert.ok(reply.status >= 200 && reply.status < 300, `${method} ${path} on ${node.url}: ${reply.status} ${JSON.stringify(reply.body)}`);
  return reply.body;
}

/** Polls `probe` until it returns true; fails after `ms`. Resolves with the time it took. */
async function within(ms: number, what: string, probe: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await probe()) return Date.now() - started;
    if (Date.now() - started > ms) assert.fail(`${what}: not within ${ms} ms`);
    await sleep(25);
  }
}

describe('a cluster of three nodes on PostgreSQL', { timeout: 180_000 }, () => {
  let cluster: ClusterNodes;
  const nodes: Record<'a' | 'b' | 'c', ServerProcess> = {} as never;
  let database: TestDatabase;
  let root: string;
  let cid: string;
  let vmid: string;
  let viewer: string;
  let viewerGid: string;

  before(async () => {
    cluster = await ClusterNodes.start(['a', 'b', 'c']);
    [nodes.a, nodes.b, nodes.c] = cluster.nodes;
    database = cluster.database;
    root = (await ok(nodes.a, undefined, 'POST', '/u/auth', { username: 'root', password: ROOT_PASSWORD })).authkey;
  });

  after(() => cluster?.stop());

  it('every node lists the three, online, with their driver and capacity', async () => {
    for (const node of Object.values(nodes)) {
      const listed = await ok(node, root, 'GET', '/nodes');
      const names = listed.nodes.map((n: { name: string }) => n.name).sort();
      assert.deepEqual(names, ['a', 'b', 'c']);
      for (const n of listed.nodes) {
        assert.equal(n.online, true, `${n.name} online`);
        assert.equal(n.driver, 'sim');
      }
    }
  });

  it('a VM created through A on node B is driven through C, and A sees its state and its events', async () => {
    const gid = (await ok(nodes.a, root, 'PUT', '/u/group', { groupname: 'fleet' })).gid;
    cid = (await ok(nodes.a, root, 'PUT', '/c', { group: gid, label: 'fleet' })).cid;
    const created = await ok(nodes.a, root, 'PUT', '/v/efi', { catalog: cid, name: 'builder', cpu_count: 1, memory_size_mb: 256, node: 'b' });
    vmid = created.vmid;
    const definition = await ok(nodes.c, root, 'GET', `/v?vmid=${vmid}`);
    assert.equal(definition.node, 'b');
    assert.equal(definition.node_online, true);

    const events = await SseClient.open(`${nodes.a.url}/v/events`, { authorization: `Bearer ${root}` });
    assert.equal(events.status, 200);
    try {
      const started = await call(nodes.c, root, 'POST', '/v/state', { vmid, state: 'RUNNING' });
      assert.equal(started.status, 200, JSON.stringify(started.body));
      assert.equal(started.body.state, 'RUNNING');
      assert.equal((await ok(nodes.a, root, 'GET', `/v/state?vmid=${vmid}`)).state, 'RUNNING');
      // Published on B, relayed to A: the start's steps in order.
      await events.waitFor((e) => e.event === 'state' && json(e).vmid === vmid && json(e).state === 'RUNNING', 5000, 'the state event on A');
      const steps = events.named('state').map(json).filter((e) => e.vmid === vmid);
      assert.deepEqual(steps.map((e) => `${e.previous}->${e.state}`), ['STOPPED->STARTING', 'STARTING->RUNNING']);
    } finally {
      events.close();
    }
    // Recorded once, by the node that carried the change out (in its transaction), not also by the one that forwarded it.
    const audit = await ok(nodes.a, root, 'GET', `/audit?target=${vmid}&limit=100`);
    const starts = audit.records.filter((r: { operation: string }) => r.operation === 'requestVmState');
    assert.equal(starts.length, 1, JSON.stringify(audit.records));
    assert.equal(starts[0].status, 200);
  });

  it('the serial console of a VM on B opens through A (a forwarded WebSocket)', async () => {
    const socket = await openWebSocket(`${nodes.a.url.replace('http', 'ws')}/v/console/stream?vmid=${vmid}`, { authorization: `Bearer ${root}` });
    socket.close();
  });

  it('a share revoked on C is refused by A within a second', async () => {
    viewerGid = (await ok(nodes.a, root, 'PUT', '/u/group', { groupname: 'viewers' })).gid;
    await ok(nodes.a, root, 'PUT', '/u/user', { username: 'watcher', password: 'watcher-password', groups: [viewerGid] });
    viewer = (await ok(nodes.b, undefined, 'POST', '/u/auth', { username: 'watcher', password: 'watcher-password' })).authkey;
    await ok(nodes.c, root, 'POST', '/c/share', { cid, gid: viewerGid, view: true });
    // A reads it now, so a cache on A holds the share.
    await within(1000, 'the share seen on A', async () => (await call(nodes.a, viewer, 'GET', `/v?vmid=${vmid}`)).status === 200);
    await ok(nodes.c, root, 'DELETE', '/c/share', { cid, gid: viewerGid });
    const took = await within(1000, 'the revoked share refused on A', async () => (await call(nodes.a, viewer, 'GET', `/v?vmid=${vmid}`)).status === 404);
    assert.ok(took <= 1000);
  });

  it('a logout on B is refused by A and C within a second', async () => {
    const key = (await ok(nodes.a, undefined, 'POST', '/u/auth', { username: 'watcher', password: 'watcher-password' })).authkey;
    assert.equal((await call(nodes.a, key, 'GET', '/c/list')).status, 200);
    assert.equal((await call(nodes.c, key, 'GET', '/c/list')).status, 200);
    await ok(nodes.b, key, 'DELETE', '/u/auth');
    await within(1000, 'the dropped key refused on A', async () => (await call(nodes.a, key, 'GET', '/c/list')).status === 401);
    await within(1000, 'the dropped key refused on C', async () => (await call(nodes.c, key, 'GET', '/c/list')).status === 401);
  });

  it('node B killed: A and C report it offline, its VM node_online false, state requests 503; back, it reconciles', async () => {
    await nodes.b.stop('SIGKILL');
    for (const node of [nodes.a, nodes.c]) {
      await within(HEARTBEAT_SECONDS * 5000, 'B offline', async () => {
        const listed = await ok(node, root, 'GET', '/nodes');
        return listed.nodes.find((n: { name: string }) => n.name === 'b').online === false;
      });
      const definition = await ok(node, root, 'GET', `/v?vmid=${vmid}`);
      assert.equal(definition.node, 'b');
      assert.equal(definition.node_online, false);
      const state = await call(node, root, 'GET', `/v/state?vmid=${vmid}`);
      assert.equal(state.status, 503);
      assert.equal(state.body.code, 'NODE_OFFLINE');
      const change = await call(node, root, 'POST', '/v/state', { vmid, state: 'STOPPED' });
      assert.equal(change.status, 503);
      assert.equal(change.body.code, 'NODE_OFFLINE');
    }
    // The console is B's too: refused while B is away, not served by A.
    assert.equal(await refusedUpgradeStatus(`${nodes.a.url.replace('http', 'ws')}/v/console/stream?vmid=${vmid}`, { authorization: `Bearer ${root}` }), 503);

    await nodes.b.start();
    // Each node sees B's new heartbeat at its own next one.
    for (const node of [nodes.a, nodes.c]) {
      await within(HEARTBEAT_SECONDS * 5000, 'B online again', async () => {
        const listed = await ok(node, root, 'GET', '/nodes');
        return listed.nodes.find((n: { name: string }) => n.name === 'b').online === true;
      });
    }
    // The sim driver's VMs died with the process: B reconciles the VM as after any restart,
    // and records it, so the definition every node reads from the database says so too.
    const state = await ok(nodes.a, root, 'GET', `/v/state?vmid=${vmid}`);
    assert.equal(state.state, 'STOPPED');
    await within(2000, 'the reconciled state recorded', async () => (await ok(nodes.c, root, 'GET', `/v?vmid=${vmid}`)).state === 'STOPPED');
    const restarted = await call(nodes.c, root, 'POST', '/v/state', { vmid, state: 'RUNNING' });
    assert.equal(restarted.status, 200, JSON.stringify(restarted.body));
  });

  it('an image lives on the node that wrote it: grown through A and deleted through C, on B\'s disk', async () => {
    const gid = (await ok(nodes.a, root, 'PUT', '/u/group', { groupname: 'images' })).gid;
    const image = await ok(nodes.b, root, 'PUT', '/r/storage', { group: gid, name: 'scratch', size_mb: 4 });
    assert.equal(image.node, 'b');
    const file = join(nodes.b.dataDir, 'storage', `${image.stid}.img`);
    assert.equal(statSync(file).size, 4 * 1024 * 1024);
    const grown = await ok(nodes.a, root, 'PATCH', '/r/storage', { stid: image.stid, size_mb: 8 });
    assert.equal(grown.size_bytes, 8 * 1024 * 1024);
    assert.equal(statSync(file).size, 8 * 1024 * 1024);
    // A VM on A cannot attach it: its file is on B.
    const elsewhere = await call(nodes.a, root, 'PUT', '/v/efi', { catalog: cid, name: 'needs-b', cpu_count: 1, memory_size_mb: 256, node: 'a', storage_devices: [image.stid] });
    assert.equal(elsewhere.status, 409);
    assert.equal(elsewhere.body.code, 'STORAGE_NOT_ON_NODE');
    await ok(nodes.c, root, 'DELETE', '/r/storage', { stid: image.stid });
    assert.equal(existsSync(file), false);
  });

  it('a stopped VM moved from B to C through A runs on C; a request forwarded to B after the move is refused there', async () => {
    const mover = (await ok(nodes.a, root, 'PUT', '/v/efi', { catalog: cid, name: 'mover', cpu_count: 1, memory_size_mb: 256, node: 'b' })).vmid;
    const moved = await ok(nodes.a, root, 'PATCH', '/v', { vmid: mover, node: 'c' });
    assert.equal(moved.node, 'c');
    const started = await call(nodes.a, root, 'POST', '/v/state', { vmid: mover, state: 'RUNNING' });
    assert.equal(started.status, 200, JSON.stringify(started.body));
    // What a node whose view was a moment old would send B: the cluster's credential, the VM now on C.
    const client = new Client({ connectionString: database.url });
    await client.connect();
    const { rows } = await client.query("SELECT secret FROM cluster_credentials WHERE name = 'node-to-node'");
    await client.end();
    const stale = await fetch(`${nodes.b.url}/v/state`, {
      method: 'POST',
      headers: { authorization: `Bearer ${root}`, 'content-type': 'application/json', 'x-velocity-node-credential': rows[0].secret },
      body: JSON.stringify({ vmid: mover, state: 'STOPPED', force: true }),
    });
    const refused = (await stale.json()) as { code: string; node: string };
    assert.equal(stale.status, 409);
    assert.deepEqual([refused.code, refused.node], ['VM_ON_OTHER_NODE', 'c']);
    assert.equal((await ok(nodes.b, root, 'GET', `/v/state?vmid=${mover}`)).state, 'RUNNING');
  });

  it('creations through all three nodes at once stop exactly at a group quota', async () => {
    const gid = (await ok(nodes.a, root, 'PUT', '/u/group', { groupname: 'quota-race' })).gid;
    const raceCid = (await ok(nodes.b, root, 'PUT', '/c', { group: gid, label: 'quota race' })).cid;
    await ok(nodes.c, root, 'POST', '/u/group/quota', { gid, vms: 10 });
    const all = [nodes.a, nodes.b, nodes.c];
    const replies = await Promise.all(
      Array.from({ length: 30 }, (_, i) => call(all[i % 3], root, 'PUT', '/v/efi', { catalog: raceCid, name: `race-${i}`, cpu_count: 1, memory_size_mb: 256 })),
    );
    const statuses = replies.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 200).length, 10, JSON.stringify(statuses));
    assert.equal(statuses.filter((s) => s === 422).length, 20, JSON.stringify(statuses));
    assert.equal((await ok(nodes.a, root, 'GET', `/v/list?cid=${raceCid}&limit=100`)).total, 10);
  });
});

describe('two nodes with shared storage (VELOCITY_SHARED_STORAGE_DIR)', { timeout: 120_000 }, () => {
  let cluster: ClusterNodes;
  let nodes: ServerProcess[];
  let shared: string;
  let root: string;

  before(async () => {
    shared = mkdtempSync(join(tmpdir(), 'velocity-shared-'));
    cluster = await ClusterNodes.start(['s1', 's2'], { VELOCITY_SHARED_STORAGE_DIR: shared });
    nodes = cluster.nodes;
    root = (await ok(nodes[0], undefined, 'POST', '/u/auth', { username: 'root', password: ROOT_PASSWORD })).authkey;
  });

  after(async () => {
    await cluster?.stop();
    rmSync(shared, { recursive: true, force: true });
  });

  it('an image written through one node is attached by a VM on the other, from the shared directory', async () => {
    const gid = (await ok(nodes[0], root, 'PUT', '/u/group', { groupname: 'shared' })).gid;
    const cid = (await ok(nodes[0], root, 'PUT', '/c', { group: gid, label: 'shared' })).cid;
    const image = await ok(nodes[0], root, 'PUT', '/r/storage', { group: gid, name: 'disk', size_mb: 4 });
    assert.equal(image.node, null);
    assert.ok(existsSync(join(shared, `${image.stid}.img`)));
    const vm = await ok(nodes[0], root, 'PUT', '/v/efi', { catalog: cid, name: 'on-s2', cpu_count: 1, memory_size_mb: 256, node: 's2', storage_devices: [image.stid] });
    const started = await call(nodes[0], root, 'POST', '/v/state', { vmid: vm.vmid, state: 'RUNNING' });
    assert.equal(started.status, 200, JSON.stringify(started.body));
    // A node starting later sweeps only its own partial files: the other's complete image stays.
    await nodes[0].stop('SIGTERM');
    await nodes[0].start();
    assert.ok(existsSync(join(shared, `${image.stid}.img`)));
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HypervisorService } from '../../src/hypervisor/hypervisor.service';
import { TestApp } from '../support/test-app';
import { eventually } from '../support/wait';
import { createDisk, createEfiVm, makeVmWorld, VmWorld } from '../support/vm-fixture';

/**
 * The node registry and VM placement on the real server (SQLite, sim driver), where this
 * server is node-a. Other nodes are rows written straight into the nodes table, heart-beating
 * (a fresh heartbeat_at) or dead (an old one): placement and liveness read nothing else.
 */
describe('nodes', () => {
  let t: TestApp;
  let w: VmWorld;

  /** Writes (or refreshes) another node's row, as its heartbeat would; `ageSeconds` makes the heartbeat that old. */
  async function otherNode(name: string, memoryMb: number, ageSeconds = 0): Promise<void> {
    const [local] = await t.dataSource.query(`SELECT capabilities FROM nodes WHERE name = 'node-a'`);
    const at = t.clock.nowMillis() - ageSeconds * 1000;
    await t.dataSource.query(
      `INSERT INTO nodes (name, url, driver, capabilities, cpus, memory_mb, started_at, heartbeat_at) VALUES (?, ?, 'sim', ?, 64, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET memory_mb = excluded.memory_mb, heartbeat_at = excluded.heartbeat_at`,
      [name, `http://${name}:8080`, local.capabilities, memoryMb, at, at],
    );
    // This server sees the row as at its next heartbeat: a listing reads the registry afresh.
    await nodes();
  }

  async function nodes(): Promise<Array<Record<string, any>>> {
    const reply = await t.call({ method: 'GET', url: '/nodes', token: w.root });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return reply.body.nodes;
  }

  async function vm(vmid: string): Promise<Record<string, any>> {
    const reply = await t.call({ method: 'GET', url: '/v', token: w.owner.token, query: { vmid } });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return reply.body;
  }

  function patch(body: Record<string, unknown>) {
    return t.call({ method: 'PATCH', url: '/v', token: w.owner.token, body });
  }

  before(async () => {
    // A long interval: rows written by the test stay online for the whole file unless made old.
    t = await TestApp.start({ env: { VELOCITY_NODE_NAME: 'node-a', VELOCITY_NODE_URL: 'http://node-a.example:8080', VELOCITY_NODE_HEARTBEAT: '20' } });
    w = await makeVmWorld(t, 'nodes');
  });
  after(() => t.close());

  it('GET /nodes shows this server online, with its driver, capabilities and capacity used by its VMs', async () => {
    const caps = t.app.get(HypervisorService).capabilities;
    await createEfiVm(t, w.owner.token, { catalog: w.cid, name: 'here', cpu_count: 2, memory_size_mb: 512 });
    const [a] = await nodes();
    assert.equal(a.name, 'node-a');
    assert.equal(a.url, 'http://node-a.example:8080');
    assert.equal(a.driver, 'sim');
    assert.equal(a.online, true);
    assert.deepEqual(a.capabilities.vm_types, caps.vm_types);
    assert.deepEqual(a.capacity, {
      cpus: { total: caps.max_cpu_count, used: 2, free: Math.max(0, caps.max_cpu_count - 2) },
      memory_mb: { total: caps.max_memory_mb, used: 512, free: caps.max_memory_mb - 512 },
      vms: 1,
    });
    assert.ok(Date.parse(a.heartbeat_at) >= Date.parse(a.started_at));
    assert.equal((await t.dataSource.query(`SELECT node FROM vms WHERE name = 'here'`))[0].node, 'node-a');
  });

  it('an API token limited to a catalog, read-only, may list the nodes', async () => {
    const token = await t.createApiToken(w.owner.token, { name: 'ci', read_only: true, catalogs: [{ cid: w.cid, permissions: ['view', 'create'] }] });
    const reply = await t.call({ method: 'GET', url: '/nodes', token: token.secret });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
  });

  it('a node whose heartbeat is older than three intervals is offline', async () => {
    await otherNode('node-dead', 1_000_000, 61);
    await otherNode('node-b', 100_000);
    const listed = await nodes();
    assert.deepEqual(
      listed.map((n) => [n.name, n.online]),
      [['node-a', true], ['node-b', true], ['node-dead', false]],
    );
  });

  it('a VM without `node` goes to the online node with the most free memory; `node` places it explicitly', async () => {
    await otherNode('node-b', 100_000);
    const placed = await createEfiVm(t, w.owner.token, { catalog: w.cid, name: 'placed' });
    // node-dead has more memory, but is offline.
    assert.equal((await vm(placed)).node, 'node-b');
    assert.equal((await vm(placed)).node_online, true);
    assert.equal(t.app.get(HypervisorService).knows(placed), false, 'a VM of another node is not defined in this driver');
    const explicit = await createEfiVm(t, w.owner.token, { catalog: w.cid, name: 'explicit', node: 'node-a' });
    assert.equal((await vm(explicit)).node, 'node-a');
    assert.equal(t.app.get(HypervisorService).knows(explicit), true);
    // The VMs placed on a node count against it: node-b fills up, node-a wins.
    await otherNode('node-b', 256 + 100);
    const next = await createEfiVm(t, w.owner.token, { catalog: w.cid, name: 'next' });
    assert.equal((await vm(next)).node, 'node-a');
    const b = (await nodes()).find((n) => n.name === 'node-b')!;
    assert.deepEqual(b.capacity.memory_mb, { total: 356, used: 256, free: 100 });
  });

  it('an unknown node is 404, an offline one 409, images of another node 409; nothing is written', async () => {
    await otherNode('node-b', 100_000);
    const before = await t.count('vms');
    const body = { catalog: w.cid, cpu_count: 1, memory_size_mb: 256 };
    const unknown = await t.call({ method: 'PUT', url: '/v/efi', token: w.owner.token, body: { ...body, name: 'x1', node: 'node-zz' } });
    assert.equal(unknown.status, 404);
    assert.deepEqual([unknown.body.code, unknown.body.node], ['NODE_NOT_FOUND', 'node-zz']);
    const offline = await t.call({ method: 'PUT', url: '/v/efi', token: w.owner.token, body: { ...body, name: 'x2', node: 'node-dead' } });
    assert.equal(offline.status, 503);
    assert.deepEqual([offline.body.code, offline.body.node], ['NODE_OFFLINE', 'node-dead']);
    const invalid = await t.call({ method: 'PUT', url: '/v/efi', token: w.owner.token, body: { ...body, name: 'x3', node: '-bad name' } });
    assert.equal(invalid.status, 400);
    const disk = await createDisk(t, w.owner.token, w.gid, 'disk-on-a');
    const elsewhere = await t.call({ method: 'PUT', url: '/v/efi', token: w.owner.token, body: { ...body, name: 'x4', node: 'node-b', storage_devices: [disk] } });
    assert.equal(elsewhere.status, 409);
    assert.deepEqual([elsewhere.body.code, elsewhere.body.stid, elsewhere.body.node], ['STORAGE_NOT_ON_NODE', disk, 'node-a']);
    assert.equal(await t.count('vms'), before);
    // Without `node`, a VM goes where its images are, though node-b has more free memory.
    const withDisk = await createEfiVm(t, w.owner.token, { catalog: w.cid, name: 'with-disk', storage_devices: [disk] });
    assert.equal((await vm(withDisk)).node, 'node-a');
    const image = await t.call({ method: 'GET', url: '/r/storage', token: w.owner.token, query: { stid: disk } });
    assert.equal(image.body.node, 'node-a');
  });

  it('PATCH moves a stopped VM whose images the target holds; a running VM or one with images here: 409', async () => {
    await otherNode('node-b', 100_000);
    const hypervisor = t.app.get(HypervisorService);
    const mover = await createEfiVm(t, w.owner.token, { catalog: w.cid, name: 'mover', node: 'node-a' });
    const moved = await patch({ vmid: mover, node: 'node-b' });
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    assert.equal(moved.body.node, 'node-b');
    assert.equal(hypervisor.knows(mover), false, 'moved away: no longer in this driver');
    const back = await patch({ vmid: mover, node: 'node-a', cpu_count: 2 });
    assert.equal(back.status, 200, JSON.stringify(back.body));
    assert.deepEqual([back.body.node, back.body.cpu_count], ['node-a', 2]);
    assert.equal(hypervisor.knows(mover), true, 'moved here: defined in this driver');

    const disk = await createDisk(t, w.owner.token, w.gid, 'pinned-disk');
    const pinned = await createEfiVm(t, w.owner.token, { catalog: w.cid, name: 'pinned', storage_devices: [disk] });
    const refused = await patch({ vmid: pinned, node: 'node-b' });
    assert.equal(refused.status, 409);
    assert.deepEqual([refused.body.code, refused.body.stid], ['STORAGE_NOT_ON_NODE', disk]);

    const running = await t.call({ method: 'POST', url: '/v/state', token: w.owner.token, body: { vmid: mover, state: 'RUNNING' } });
    assert.equal(running.status, 200, JSON.stringify(running.body));
    const busy = await patch({ vmid: mover, node: 'node-b' });
    assert.equal(busy.status, 409);
    assert.equal(busy.body.code, 'VM_NOT_STOPPED');
    assert.equal((await vm(mover)).node, 'node-a');
    await t.call({ method: 'POST', url: '/v/state', token: w.owner.token, body: { vmid: mover, state: 'STOPPED', force: true } });
    const offline = await patch({ vmid: mover, node: 'node-dead' });
    assert.deepEqual([offline.status, offline.body.code], [503, 'NODE_OFFLINE']);
  });

  it('a VM on a node that stopped heart-beating shows node_online false, in GET /v and /v/list', async () => {
    await otherNode('node-c', 100_000_000);
    const doomed = await createEfiVm(t, w.owner.token, { catalog: w.cid, name: 'doomed' });
    assert.equal((await vm(doomed)).node, 'node-c');
    assert.equal((await vm(doomed)).node_online, true);
    await otherNode('node-c', 100_000_000, 61);
    await nodes(); // what the views say follows the registry as last read: each heartbeat, listing or placement
    assert.equal((await vm(doomed)).node_online, false);
    const list = await t.call({ method: 'GET', url: '/v/list', token: w.owner.token, query: { cid: w.cid, limit: '100' } });
    const listed = list.body.vms.find((v: { vmid: string }) => v.vmid === doomed);
    assert.deepEqual([listed.node, listed.node_online], ['node-c', false]);
    assert.equal(list.body.vms.find((v: { name: string }) => v.name === 'here').node_online, true);
  });
});

describe('heartbeat', () => {
  it('a node writes its heartbeat every VELOCITY_NODE_HEARTBEAT seconds', async () => {
    const t = await TestApp.start({ env: { VELOCITY_NODE_NAME: 'beating', VELOCITY_NODE_HEARTBEAT: '1' } });
    const heartbeat = async () => Number((await t.dataSource.query(`SELECT heartbeat_at FROM nodes WHERE name = 'beating'`))[0].heartbeat_at);
    try {
      const first = await heartbeat();
      await eventually(async () => (await heartbeat()) > first, 'a second heartbeat', 3_000);
    } finally {
      await t.close();
    }
  });
});

describe('nodes across restarts (SQLite: one server owns the file)', () => {
  it('VMs and images without a node, or of the server under another name, belong to the server that starts', async () => {
    let t = await TestApp.start({ env: { VELOCITY_NODE_NAME: 'old-name' } });
    const dataDir = t.config.dataDir;
    try {
      const w = await makeVmWorld(t, 'renamed');
      const disk = await createDisk(t, w.owner.token, w.gid, 'kept-disk');
      const vmid = await createEfiVm(t, w.owner.token, { catalog: w.cid, name: 'kept', storage_devices: [disk] });
      // As the migration leaves rows written before nodes existed.
      const legacy = await createEfiVm(t, w.owner.token, { catalog: w.cid, name: 'legacy' });
      await t.dataSource.query(`UPDATE vms SET node = NULL WHERE vmid = ?`, [legacy]);
      await t.close({ keepData: true });
      t = await TestApp.start({ dataDir, env: { VELOCITY_NODE_NAME: 'new-name' } });
      const root = await t.loginRoot();
      const listed = await t.call({ method: 'GET', url: '/nodes', token: root });
      assert.deepEqual(listed.body.nodes.map((n: { name: string }) => n.name), ['new-name']);
      assert.deepEqual(await t.dataSource.query(`SELECT DISTINCT node FROM vms UNION SELECT DISTINCT node FROM storage`), [{ node: 'new-name' }]);
      assert.equal(t.app.get(HypervisorService).knows(vmid), true, 'defined at start like any VM of this node');
      assert.equal(t.app.get(HypervisorService).knows(legacy), true);
    } finally {
      await t.close();
    }
  });
});

import assert from 'node:assert/strict';
import { CatalogPermission } from '../../src/catalogs/permissions/catalog-permission';
import { MatrixRoute, RequestParts } from '../support/matrix-route';
import { Reply, TestApp } from '../support/test-app';

// The rows of the /v and /r authorization matrix (authorization-matrix.spec.ts), apart from
// it so the route-coverage test can read them without running the matrix.

/** How a request names what it acts on, and so which 404 code hides it. */
export type Addressing = 'catalog' | 'vmid';

/** What a /v case's request is built from. */
export interface VContext {
  cid: string;
  vmid: string;
  /** A name no VM has yet. */
  name: string;
  /** A kernel image the caller may use. */
  kernel: string;
  natNic: string;
}

export interface VEndpoint extends MatrixRoute {
  permission: CatalogPermission;
  /** A second permission the request needs on the same catalog (a VM cloned into its own catalog: view and create). */
  alsoNeeds?: CatalogPermission;
  addressing: Addressing;
  /**
   * The VM a case acts on: a long-lived running one (read-only and console endpoints), a
   * fresh stopped one per case (endpoints whose allowed request changes or destroys it), or
   * none (catalog-addressed endpoints).
   */
  vm: 'running' | 'fresh' | 'none';
  /**
   * What an authorized caller gets (the sim driver cannot create MAC VMs: 422; the console
   * stream and the remote screen answer 101 Switching Protocols).
   */
  allowed: { status: number; code?: string };
  /** 'websocket': the request is a WebSocket upgrade to the listening server. */
  transport?: 'http' | 'websocket';
  request: (c: VContext) => RequestParts;
  /** Checks the effect of an allowed request. */
  verify?: (t: TestApp, reply: Reply, c: VContext) => Promise<void>;
}

async function vmRow(t: TestApp, vmid: string): Promise<Record<string, unknown> | undefined> {
  return (await t.dataSource.query('SELECT * FROM vms WHERE vmid = ?', [vmid]))[0];
}

async function assertCreated(t: TestApp, reply: Reply, c: VContext, type: string): Promise<void> {
  const row = await vmRow(t, reply.body.vmid);
  assert.ok(row, 'the VM exists');
  assert.deepEqual([row.cid, row.name, row.type], [c.cid, c.name, type]);
}

export const V_ENDPOINTS: VEndpoint[] = [
  {
    method: 'PUT',
    path: '/v/efi',
    permission: 'create',
    addressing: 'catalog',
    vm: 'none',
    allowed: { status: 200 },
    request: (c) => ({ body: { name: c.name, catalog: c.cid, cpu_count: 1, memory_size_mb: 256, nics: [c.natNic] } }),
    verify: (t, reply, c) => assertCreated(t, reply, c, 'EFI'),
  },
  {
    method: 'PUT',
    path: '/v/kboot',
    permission: 'create',
    addressing: 'catalog',
    vm: 'none',
    allowed: { status: 200 },
    request: (c) => ({ body: { name: c.name, catalog: c.cid, cpu_count: 1, memory_size_mb: 256, kernel: c.kernel, cmdline: 'console=ttyS0' } }),
    verify: (t, reply, c) => assertCreated(t, reply, c, 'KBOOT'),
  },
  {
    method: 'PUT',
    path: '/v/mac',
    permission: 'create',
    addressing: 'catalog',
    vm: 'none',
    allowed: { status: 422, code: 'UNSUPPORTED_ON_HOST' },
    request: (c) => ({ body: { name: c.name, catalog: c.cid, cpu_count: 1, memory_size_mb: 4096 } }),
  },
  {
    method: 'GET',
    path: '/v',
    permission: 'view',
    addressing: 'vmid',
    vm: 'running',
    allowed: { status: 200 },
    request: (c) => ({ query: { vmid: c.vmid } }),
    verify: async (_t, reply, c) => assert.deepEqual([reply.body.vmid, reply.body.catalog, reply.body.state], [c.vmid, c.cid, 'RUNNING']),
  },
  {
    method: 'GET',
    path: '/v/list',
    permission: 'view',
    addressing: 'catalog',
    vm: 'running',
    allowed: { status: 200 },
    request: (c) => ({ query: { cid: c.cid, limit: '1000' } }),
    verify: async (_t, reply, c) => {
      const vms: Array<{ vmid: string; catalog: string }> = reply.body.vms;
      assert.ok(vms.some((v) => v.vmid === c.vmid), 'the catalog\'s VM is listed');
      assert.ok(vms.every((v) => v.catalog === c.cid), 'only the catalog\'s VMs are listed');
    },
  },
  {
    method: 'PATCH',
    path: '/v',
    permission: 'alter',
    addressing: 'vmid',
    vm: 'fresh',
    allowed: { status: 200 },
    request: (c) => ({ body: { vmid: c.vmid, memory_size_mb: 512 } }),
    verify: async (t, reply, c) => {
      assert.equal(reply.body.memory_size_mb, 512);
      assert.equal((await vmRow(t, c.vmid))!.memory_size_mb, 512);
    },
  },
  {
    method: 'DELETE',
    path: '/v',
    permission: 'remove',
    addressing: 'vmid',
    vm: 'fresh',
    allowed: { status: 200 },
    request: (c) => ({ body: { vmid: c.vmid } }),
    verify: async (t, reply, c) => {
      assert.deepEqual(reply.body, { vmid: c.vmid });
      assert.equal(await t.count('vms', 'vmid = ?', [c.vmid]), 0);
    },
  },
  {
    method: 'POST',
    path: '/v/clone',
    permission: 'view',
    alsoNeeds: 'create',
    addressing: 'vmid',
    vm: 'fresh',
    allowed: { status: 200 },
    request: (c) => ({ body: { vmid: c.vmid, catalog: c.cid, name: c.name } }),
    verify: async (t, reply, c) => {
      assert.deepEqual([reply.body.catalog, reply.body.name, reply.body.state], [c.cid, c.name, 'STOPPED']);
      assert.notEqual(reply.body.vmid, c.vmid);
      assert.equal(await t.count('vms', 'vmid = ? AND cid = ? AND name = ?', [reply.body.vmid, c.cid, c.name]), 1);
    },
  },
  {
    method: 'GET',
    path: '/v/state',
    permission: 'view',
    addressing: 'vmid',
    vm: 'running',
    allowed: { status: 200 },
    request: (c) => ({ query: { vmid: c.vmid } }),
    verify: async (_t, reply, c) => assert.deepEqual(reply.body, { vmid: c.vmid, state: 'RUNNING' }),
  },
  {
    method: 'POST',
    path: '/v/state',
    permission: 'state',
    addressing: 'vmid',
    vm: 'fresh',
    allowed: { status: 200 },
    request: (c) => ({ body: { vmid: c.vmid, state: 'RUNNING' } }),
    verify: async (_t, reply, c) => assert.deepEqual(reply.body, { vmid: c.vmid, state: 'RUNNING' }),
  },
  {
    method: 'GET',
    path: '/v/console',
    permission: 'interact',
    addressing: 'vmid',
    vm: 'running',
    allowed: { status: 200 },
    request: (c) => ({ query: { vmid: c.vmid } }),
    verify: async (_t, reply, c) => {
      assert.equal(reply.body.vmid, c.vmid);
      assert.equal(typeof reply.body.output, 'string');
    },
  },
  {
    method: 'POST',
    path: '/v/console',
    permission: 'interact',
    addressing: 'vmid',
    vm: 'running',
    allowed: { status: 200 },
    request: (c) => ({ body: { vmid: c.vmid, input: 'x\n' } }),
    verify: async (_t, reply, c) => assert.deepEqual(reply.body, { vmid: c.vmid }),
  },
  {
    method: 'GET',
    path: '/v/console/stream',
    transport: 'websocket',
    permission: 'interact',
    addressing: 'vmid',
    vm: 'running',
    allowed: { status: 101 },
    request: (c) => ({ query: { vmid: c.vmid } }),
  },
  {
    method: 'GET',
    path: '/v/rfb',
    transport: 'websocket',
    permission: 'interact',
    addressing: 'vmid',
    vm: 'running',
    allowed: { status: 101 },
    request: (c) => ({ query: { vmid: c.vmid } }),
  },
  {
    method: 'GET',
    path: '/v/screenshot',
    permission: 'interact',
    addressing: 'vmid',
    vm: 'running',
    allowed: { status: 200 },
    request: (c) => ({ query: { vmid: c.vmid } }),
    verify: async (_t, reply) => {
      assert.match(String(reply.headers['content-type']), /^image\/png/);
      assert.equal(String(reply.body).slice(1, 4), 'PNG', 'a PNG signature');
    },
  },
];


export interface RContext {
  /** The group a create request names. */
  gid: string;
  /** The owning group's storage or NIC an id-addressed request names. */
  id: string;
  name: string;
}


export interface REndpoint extends MatrixRoute {
  kind: 'create' | 'id' | 'list';
  notFound?: string;
  /** id-addressed endpoints whose allowed request destroys or changes the target: a fresh one per case. */
  fresh?: 'storage' | 'nic';
  /** The target of id-addressed endpoints that read. */
  target?: 'storage' | 'nic';
  request: (c: RContext) => RequestParts;
  verify?: (t: TestApp, reply: Reply, c: RContext) => Promise<void>;
  /** list endpoints: the ids in the reply. */
  listed?: (reply: Reply) => string[];
  kindOfItem?: 'storage' | 'nic';
}

export const R_ENDPOINTS: REndpoint[] = [
  {
    method: 'PUT',
    path: '/r/storage',
    kind: 'create',
    notFound: 'GROUP_NOT_FOUND',
    request: (c) => ({ body: { group: c.gid, name: c.name, size_mb: 1 } }),
    verify: async (t, reply, c) => {
      assert.deepEqual([reply.body.gid, reply.body.name], [c.gid, c.name]);
      assert.equal(await t.count('storage', 'stid = ? AND gid = ?', [reply.body.stid, c.gid]), 1);
    },
  },
  {
    method: 'POST',
    path: '/r/storage/upload',
    kind: 'create',
    notFound: 'GROUP_NOT_FOUND',
    request: (c) => ({
      query: { group: c.gid, name: c.name },
      headers: { 'content-type': 'application/octet-stream' },
      payload: Buffer.alloc(4096, 7),
    }),
    verify: async (t, reply, c) => {
      assert.deepEqual([reply.body.gid, reply.body.name, reply.body.size_bytes], [c.gid, c.name, 4096]);
      assert.equal(await t.count('storage', 'stid = ? AND gid = ?', [reply.body.stid, c.gid]), 1);
    },
  },
  {
    method: 'GET',
    path: '/r/storage',
    kind: 'id',
    notFound: 'STORAGE_NOT_FOUND',
    target: 'storage',
    request: (c) => ({ query: { stid: c.id } }),
    verify: async (_t, reply, c) => assert.equal(reply.body.stid, c.id),
  },
  {
    // Addressed by the source: a caller who cannot read it gets its 404 whatever the group.
    method: 'POST',
    path: '/r/storage/clone',
    kind: 'id',
    notFound: 'STORAGE_NOT_FOUND',
    target: 'storage',
    request: (c) => ({ body: { stid: c.id, group: c.gid, name: c.name } }),
    verify: async (t, reply, c) => {
      assert.deepEqual([reply.body.gid, reply.body.name, typeof reply.body.cow], [c.gid, c.name, 'boolean']);
      assert.notEqual(reply.body.stid, c.id);
      assert.equal(await t.count('storage', 'stid = ? AND gid = ?', [reply.body.stid, c.gid]), 1);
    },
  },
  {
    method: 'PATCH',
    path: '/r/storage',
    kind: 'id',
    notFound: 'STORAGE_NOT_FOUND',
    fresh: 'storage',
    request: (c) => ({ body: { stid: c.id, size_mb: 2, template: true } }),
    verify: async (t, reply, c) => {
      assert.deepEqual([reply.body.stid, reply.body.size_bytes, reply.body.template], [c.id, 2 * 1024 * 1024, true]);
      assert.equal(await t.count('storage', 'stid = ? AND template = 1 AND size_bytes = ?', [c.id, 2 * 1024 * 1024]), 1);
    },
  },
  {
    method: 'GET',
    path: '/r/storage/list',
    kind: 'list',
    kindOfItem: 'storage',
    request: () => ({ query: { limit: '1000' } }),
    listed: (reply) => reply.body.storage.map((s: { stid: string }) => s.stid),
  },
  {
    method: 'DELETE',
    path: '/r/storage',
    kind: 'id',
    notFound: 'STORAGE_NOT_FOUND',
    fresh: 'storage',
    request: (c) => ({ body: { stid: c.id } }),
    verify: async (t, reply, c) => {
      assert.deepEqual(reply.body, { stid: c.id });
      assert.equal(await t.count('storage', 'stid = ?', [c.id]), 0);
    },
  },
  {
    method: 'GET',
    path: '/r/nic/list',
    kind: 'list',
    kindOfItem: 'nic',
    request: () => ({}),
    listed: (reply) => reply.body.nics.map((n: { nicid: string }) => n.nicid),
  },
  {
    method: 'PUT',
    path: '/r/nic',
    kind: 'create',
    notFound: 'GROUP_NOT_FOUND',
    request: (c) => ({ body: { group: c.gid, description: c.name } }),
    verify: async (t, reply, c) => {
      assert.deepEqual([reply.body.type, reply.body.gid], ['FILEHANDLE', c.gid]);
      assert.equal(await t.count('nics', 'nicid = ? AND gid = ?', [reply.body.nicid, c.gid]), 1);
    },
  },
  {
    method: 'DELETE',
    path: '/r/nic',
    kind: 'id',
    notFound: 'NIC_NOT_FOUND',
    fresh: 'nic',
    request: (c) => ({ body: { nicid: c.id } }),
    verify: async (t, reply, c) => {
      assert.deepEqual(reply.body, { nicid: c.id });
      assert.equal(await t.count('nics', 'nicid = ?', [c.id]), 0);
    },
  },
];


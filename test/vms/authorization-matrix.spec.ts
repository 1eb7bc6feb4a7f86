import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { CATALOG_PERMISSIONS, CatalogPermission } from '../../src/catalogs/permissions/catalog-permission';
import { requestTo, rowName } from '../support/matrix-route';
import { SseClient } from '../support/sse-client';
import { Call, Reply, TestApp } from '../support/test-app';
import { createDisk, setState } from '../support/vm-fixture';
import { R_ENDPOINTS, RContext, REndpoint, V_ENDPOINTS, VContext, VEndpoint } from './authorization-matrix.rows';

/**
 * Generated authorization matrix for every /v and /r endpoint.
 *
 * /v is catalog-scoped: for each endpoint (the WebSocket upgrades of the console stream and the
 * remote screen, and the event stream, included)
 * and each of the seven share permissions, a caller holding only that permission and a caller
 * holding all but it; once per endpoint the owning group's member, root, a user with no
 * relation, the owner naming an unknown id, no key, an unknown key and an expired key; and API
 * tokens of the owner (who holds all seven) limited to the catalog with only the needed
 * permissions (allowed), with all but them (401), or limited to another catalog (404).
 *
 * /r is group-scoped: members of the owning group, poolmanager and root may manage a group's
 * storage and FILEHANDLE NICs; everybody else (a share on the group's catalog included) gets
 * 404, and list endpoints show only what the caller may see. An owner's API token without
 * limits is the owner; one limited to catalogs is refused every /r route (401).
 *
 * After every denied request the rows of the VM, resource and catalog tables and the data
 * directory's files are exactly what they were before.
 */

const UNKNOWN_ID = '00000000-0000-4000-8000-0000000000ff';
const AUTH_REQUIRED = 'AUTH_REQUIRED';
const PERMISSION_DENIED = 'PERMISSION_DENIED';

const TABLES: Array<[table: string, key: string]> = [
  ['vms', 'vmid'],
  ['vm_storage', 'vmid, stid'],
  ['vm_nics', 'vmid, position'],
  ['storage', 'stid'],
  ['nics', 'nicid'],
  ['catalogs', 'cid'],
  ['catalog_shares', 'cid, gid'],
];

function flags(granted: (p: CatalogPermission) => boolean): Record<CatalogPermission, boolean> {
  return Object.fromEntries(CATALOG_PERMISSIONS.map((p) => [p, granted(p)])) as Record<CatalogPermission, boolean>;
}

/** The resources of one group that the /r matrix looks for. */
interface GroupResources {
  stid: string;
  nicid: string;
}

/** What the caller may see of the owning group's and of the other group's resources. */
type Reach = 'owning group' | 'other group' | 'every group' | 'no group';

describe('/v and /r authorization matrix', () => {
  let t: TestApp;
  let root: string;
  let natNic: string;
  let ownersGid: string;
  let owner: { token: string; kernel: string };
  let stranger: { token: string; kernel: string; gid: string };
  const only = new Map<CatalogPermission, { token: string; gid: string; kernel: string }>();
  const allBut = new Map<CatalogPermission, { token: string; gid: string; kernel: string }>();
  /** One catalog per permission, shared with that permission's only- and all-but groups. */
  const catalogs = new Map<CatalogPermission, string>();
  /** One running VM with a display per catalog, for the endpoints that only read or interact. */
  const runningVms = new Map<CatalogPermission, string>();
  /** /r: the owning group's and the other group's resources; the special callers. */
  let owned: GroupResources;
  let others: GroupResources;
  let poolmanager: string;
  let catalogmanagerOnly: string;
  let usermanager: string;
  let fullShare: { token: string; cid: string };
  /** The owner's API tokens: without limits, and limited (with all seven permissions) to the fully shared catalog. */
  let ownerUnlimitedToken: string;
  let ownerElsewhereToken: string;
  /** The listening server's port, for the WebSocket upgrade. */
  let port: number;
  let seq = 0;

  before(async () => {
    t = await TestApp.start();
    port = await t.listen();
    root = await t.loginRoot();
    const special = async (name: string) => t.specialGroupId(root, name);
    const catalogmanager = await special('catalogmanager');
    ownersGid = await t.createGroup(root, 'owners');
    const ownerUser = await t.createUser(root, 'owner', [ownersGid, catalogmanager]);
    owner = { token: ownerUser.token, kernel: await createDisk(t, ownerUser.token, ownersGid, 'owner-kernel', 1) };
    const strangerUser = await t.createUser(root, 'stranger');
    stranger = {
      token: strangerUser.token,
      gid: strangerUser.personalGid,
      kernel: await createDisk(t, strangerUser.token, strangerUser.personalGid, 'stranger-kernel', 1),
    };
    natNic = (await t.call({ method: 'GET', url: '/r/nic/list', token: owner.token })).body.nics.find((n: { type: string }) => n.type === 'NAT').nicid;

    for (const p of CATALOG_PERMISSIONS) {
      for (const [map, prefix] of [[only, 'only'], [allBut, 'allbut']] as const) {
        const gid = await t.createGroup(root, `${prefix}-${p}`);
        const user = await t.createUser(root, `user-${prefix}-${p}`, [gid]);
        map.set(p, { gid, token: user.token, kernel: await createDisk(t, user.token, gid, `${prefix}-${p}-kernel`, 1) });
      }
      const created = await t.call({ method: 'PUT', url: '/c', token: owner.token, body: { group: ownersGid, label: `matrix ${p}` } });
      assert.equal(created.status, 200);
      const cid = created.body.cid;
      catalogs.set(p, cid);
      for (const share of [
        { gid: only.get(p)!.gid, ...flags((q) => q === p) },
        { gid: allBut.get(p)!.gid, ...flags((q) => q !== p) },
      ]) {
        assert.equal((await t.call({ method: 'POST', url: '/c/share', token: owner.token, body: { cid, ...share } })).status, 200);
      }
      const vmid = await freshVm(cid, `running-${p}`);
      assert.equal((await setState(t, owner.token, vmid, 'RUNNING')).status, 200);
      runningVms.set(p, vmid);
    }

    // /r: resources of the owning group and of another group (the stranger's personal one).
    owned = { stid: await createDisk(t, owner.token, ownersGid, 'owned-disk', 1), nicid: await createNic(owner.token, ownersGid, 'owned nic') };
    others = {
      stid: await createDisk(t, stranger.token, stranger.gid, 'other-disk', 1),
      nicid: await createNic(stranger.token, stranger.gid, 'other nic'),
    };
    poolmanager = (await t.createUser(root, 'pool', [await special('poolmanager')])).token;
    catalogmanagerOnly = (await t.createUser(root, 'catman', [catalogmanager])).token;
    usermanager = (await t.createUser(root, 'userman', [await special('usermanager')])).token;
    // A caller with every permission, through a share, on a catalog of the owning group.
    const fullGid = await t.createGroup(root, 'full-share');
    const fullUser = await t.createUser(root, 'user-full-share', [fullGid]);
    const fullCatalog = await t.call({ method: 'PUT', url: '/c', token: owner.token, body: { group: ownersGid, label: 'fully shared' } });
    assert.equal(fullCatalog.status, 200);
    const share = await t.call({ method: 'POST', url: '/c/share', token: owner.token, body: { cid: fullCatalog.body.cid, gid: fullGid, ...flags(() => true) } });
    assert.equal(share.status, 200);
    fullShare = { token: fullUser.token, cid: fullCatalog.body.cid };
    ownerUnlimitedToken = await ownersApiToken();
    ownerElsewhereToken = await ownersApiToken(fullShare.cid, CATALOG_PERMISSIONS);
  });
  after(() => t.close());

  /**
   * An owner-created EFI VM with a display and the NAT NIC, stopped. PATCH by a sharer of a
   * VM with the owning group's disk is its own case below.
   */
  async function freshVm(cid: string, name = `fresh-${++seq}`): Promise<string> {
    const reply = await t.call({
      method: 'PUT',
      url: '/v/efi',
      token: owner.token,
      body: { name, catalog: cid, cpu_count: 1, memory_size_mb: 256, displays: [{ width: 640, height: 480 }], nics: [natNic] },
    });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return reply.body.vmid;
  }

  /** An API token of the owner, limited to catalog `cid` with `permissions` (none: no limits). */
  async function ownersApiToken(cid?: string, permissions: readonly CatalogPermission[] = []): Promise<string> {
    const body = { name: `matrix-${++seq}`, ...(cid ? { catalogs: [{ cid, permissions }] } : {}) };
    return (await t.createApiToken(owner.token, body)).secret;
  }

  async function createNic(token: string, gid: string, description: string): Promise<string> {
    const reply = await t.call({ method: 'PUT', url: '/r/nic', token, body: { group: gid, description } });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return reply.body.nicid;
  }

  /** The rows of every VM, resource and catalog table, and the files under the data directory. */
  async function snapshot(): Promise<string> {
    const rows: Record<string, unknown> = {};
    for (const [table, key] of TABLES) rows[table] = await t.dataSource.query(`SELECT * FROM "${table}" ORDER BY ${key}`);
    const files: Record<string, string[]> = {};
    for (const dir of ['vms', 'storage', 'nics']) {
      const path = join(t.config.dataDir, dir);
      files[dir] = existsSync(path) ? readdirSync(path).sort() : [];
    }
    return JSON.stringify({ rows, files });
  }

  async function stateOf(vmid: string): Promise<string> {
    const reply = await t.call({ method: 'GET', url: '/v/state', token: owner.token, query: { vmid } });
    assert.equal(reply.status, 200);
    return reply.body.state;
  }

  /**
   * Opens a WebSocket with the request's path and query: 101 when the upgrade is accepted
   * (the socket is closed again at once), else the refusal's status and `{code, message}` body.
   */
  function upgrade(request: Omit<Call, 'token'>, token: string | undefined): Promise<Reply> {
    const url = `ws://127.0.0.1:${port}${t.config.basePath}${request.url}?${new URLSearchParams(request.query)}`;
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
      ws.on('unexpected-response', (req, res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          // With this listener, ws leaves the refused response to us: drop its socket.
          req.destroy();
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()), headers: res.headers });
        });
      });
      ws.on('open', () => {
        ws.once('close', () => resolve({ status: 101, body: undefined, headers: {} }));
        ws.close();
      });
      ws.on('error', reject);
    });
  }

  /** Opens an event stream: 200 once its head arrives (the stream is closed then), else the refusal. */
  async function stream(request: Omit<Call, 'token'>, token: string | undefined): Promise<Reply> {
    const client = await SseClient.open(`http://127.0.0.1:${port}${t.config.basePath}${request.url}?${new URLSearchParams(request.query)}`, token ? { authorization: `Bearer ${token}` } : {});
    if (client.status === 200) {
      client.close();
      return { status: 200, body: undefined, headers: client.response.headers };
    }
    return { status: client.status, body: await client.errorBody(), headers: client.response.headers };
  }

  /** Sends the request (as a WebSocket upgrade or event stream if asked), with the clock past the key's expiry if asked. */
  async function send(request: Omit<Call, 'token'>, token: string | undefined, expired: boolean, transport: VEndpoint['transport'] = 'http'): Promise<Reply> {
    const deliver = () => (transport === 'websocket' ? upgrade(request, token) : transport === 'sse' ? stream(request, token) : t.call({ ...request, token }));
    if (!expired) return deliver();
    t.clock.advance(t.config.authkeyTtlSeconds + 1);
    try {
      return await deliver();
    } finally {
      t.clock.advance(-(t.config.authkeyTtlSeconds + 1));
    }
  }

  // ---------------------------------------------------------------- /v

  interface VCase {
    who: string;
    /** The catalog (by its permission) the case acts in. */
    catalog: CatalogPermission;
    /** The caller's key; `cid` is the catalog the case acts in. */
    token: (cid: string) => string | undefined | Promise<string>;
    kernel: () => string;
    status: number;
    code?: string;
    expired?: boolean;
    unknownId?: boolean;
  }

  const needsOf = (endpoint: VEndpoint): CatalogPermission[] => [endpoint.permission, ...(endpoint.alsoNeeds ? [endpoint.alsoNeeds] : [])];

  function vCases(endpoint: VEndpoint): VCase[] {
    const need = endpoint.permission;
    const needs = needsOf(endpoint);
    const allowed = endpoint.allowed;
    const denied = { status: 401, code: PERMISSION_DENIED };
    const cases: VCase[] = [];
    for (const p of CATALOG_PERMISSIONS) {
      const holder = (map: typeof only) => ({ token: () => map.get(p)!.token, kernel: () => map.get(p)!.kernel });
      cases.push(
        { who: `only ${p}`, catalog: p, ...holder(only), ...(needs.every((n) => n === p) ? allowed : denied) },
        { who: `all but ${p}`, catalog: p, ...holder(allBut), ...(needs.includes(p) ? denied : allowed) },
      );
    }
    const notFound = endpoint.addressing === 'vmid' ? 'VM_NOT_FOUND' : 'CATALOG_NOT_FOUND';
    const asOwner = { token: () => owner.token, kernel: () => owner.kernel };
    cases.push(
      { who: 'owning group member', catalog: need, ...asOwner, ...allowed },
      { who: 'root', catalog: need, token: () => root, kernel: () => owner.kernel, ...allowed },
      { who: 'no relation', catalog: need, token: () => stranger.token, kernel: () => stranger.kernel, status: 404, code: notFound },
      { who: 'owning group member naming an unknown id', catalog: need, ...asOwner, status: 404, code: notFound, unknownId: true },
      { who: 'no key', catalog: need, token: () => undefined, kernel: () => owner.kernel, status: 401, code: AUTH_REQUIRED },
      { who: 'unknown key', catalog: need, token: () => 'not-a-real-key', kernel: () => owner.kernel, status: 401, code: AUTH_REQUIRED },
      { who: 'expired key of an owning group member', catalog: need, ...asOwner, status: 401, code: AUTH_REQUIRED, expired: true },
      { who: `owner's API token limited to the catalog with only ${needs.join(' and ')}`, catalog: need, ...asOwner, token: (cid) => ownersApiToken(cid, needs), ...allowed },
      {
        who: `owner's API token limited to the catalog with all but ${needs.join(' and ')}`,
        catalog: need,
        ...asOwner,
        token: (cid) => ownersApiToken(cid, CATALOG_PERMISSIONS.filter((p) => !needs.includes(p))),
        ...denied,
      },
      { who: 'owner\'s API token limited to another catalog', catalog: need, ...asOwner, token: () => ownerElsewhereToken, status: 404, code: notFound },
    );
    return cases;
  }

  describe('/v (catalog-scoped)', () => {
    for (const endpoint of V_ENDPOINTS) {
      for (const c of vCases(endpoint)) {
        it(`${rowName(endpoint)} [needs ${needsOf(endpoint).join(' and ')}] by ${c.who} (catalog shared for ${c.catalog}) → ${c.status}`, async () => {
          const cid = catalogs.get(c.catalog)!;
          const vmid = endpoint.vm === 'fresh' ? await freshVm(cid) : endpoint.vm === 'running' ? runningVms.get(c.catalog)! : '';
          const context: VContext = {
            cid: c.unknownId && endpoint.addressing === 'catalog' ? UNKNOWN_ID : cid,
            vmid: c.unknownId && endpoint.addressing === 'vmid' ? UNKNOWN_ID : vmid,
            name: `made-${++seq}`,
            kernel: c.kernel(),
            natNic,
          };
          const token = await c.token(cid);
          const stateBefore = vmid ? await stateOf(vmid) : undefined;
          const before = await snapshot();
          const reply = await send(requestTo(endpoint, endpoint.request(context)), token, c.expired ?? false, endpoint.transport);
          try {
            assert.equal(reply.status, c.status, JSON.stringify(reply.body));
            if (c.code) assert.equal(reply.body.code, c.code, JSON.stringify(reply.body));
            // Allowed: 200, or 101 for an accepted WebSocket upgrade.
            if (reply.status < 400) {
              await endpoint.verify?.(t, reply, context);
            } else {
              assert.equal(typeof reply.body.message, 'string');
              assert.equal(await snapshot(), before, 'a refused request changes nothing');
              if (vmid) assert.equal(await stateOf(vmid), stateBefore, 'a refused request leaves the VM\'s state alone');
            }
          } finally {
            // A fresh VM is this case's alone: remove it (stopping it if the case started it).
            if (endpoint.vm === 'fresh' && (await t.count('vms', 'vmid = ?', [vmid])) > 0) {
              const removed = await t.call({ method: 'DELETE', url: '/v', token: owner.token, body: { vmid, force: true } });
              assert.equal(removed.status, 200, JSON.stringify(removed.body));
            }
          }
        });
      }
    }

    // A GET request may name its target in the body and in the query at once: the id the
    // permission is checked on and the id that is served must be the same one. (A WebSocket
    // upgrade carries no body; an event stream has its own test of the same in test/vms/events/.)
    for (const endpoint of V_ENDPOINTS.filter((e) => e.method === 'GET' && e.vm === 'running' && (e.transport ?? 'http') === 'http')) {
      const field = endpoint.addressing === 'vmid' ? 'vmid' : 'cid';
      for (const visibleIn of ['body', 'query'] as const) {
        it(`${rowName(endpoint)} with a visible ${field} in the ${visibleIn} and an invisible one in the ${visibleIn === 'body' ? 'query' : 'body'} never serves the invisible one`, async () => {
          // "all but manage" sees the manage catalog only; the view catalog is invisible to it.
          const id = (p: CatalogPermission) => (field === 'vmid' ? runningVms.get(p)! : catalogs.get(p)!);
          const [visible, invisible] = [id('manage'), id('view')];
          const request = requestTo(endpoint, endpoint.request({ cid: '', vmid: '', name: '', kernel: '', natNic }));
          const body = { [field]: visibleIn === 'body' ? visible : invisible };
          const query = { ...request.query, [field]: visibleIn === 'query' ? visible : invisible };
          const reply = await t.call({ ...request, query, body, token: allBut.get('manage')!.token });
          // Either the visible one is served, or the request is refused as if for the invisible one.
          if (reply.status === 200) {
            // (A screenshot is a PNG, which names no id; it passed the check for the visible VM.)
            if (typeof reply.body === 'object') {
              assert.ok(JSON.stringify(reply.body).includes(visible), JSON.stringify(reply.body));
              assert.ok(!JSON.stringify(reply.body).includes(invisible), `the invisible ${field} is served: ${JSON.stringify(reply.body)}`);
            }
          } else {
            assert.equal(reply.status, 404, JSON.stringify(reply.body));
            assert.equal(reply.body.code, field === 'vmid' ? 'VM_NOT_FOUND' : 'CATALOG_NOT_FOUND');
          }
        });
      }
    }

    it(
      'PATCH /v by a caller with alter through a share, on a VM using the owning group\'s disk or FILEHANDLE NIC → 200',
      async () => {
        const cid = catalogs.get('manage')!;
        const disk = await createDisk(t, owner.token, ownersGid, `attached-${++seq}`, 1);
        const nic = await createNic(owner.token, ownersGid, `attached ${++seq}`);
        const outcomes: Record<string, string> = {};
        for (const [field, rid] of [['storage_devices', disk], ['nics', nic]] as const) {
          const created = await t.call({
            method: 'PUT',
            url: '/v/efi',
            token: owner.token,
            body: { name: `attached-${++seq}`, catalog: cid, cpu_count: 1, memory_size_mb: 256, [field]: [rid] },
          });
          assert.equal(created.status, 200, JSON.stringify(created.body));
          const vmid = created.body.vmid;
          // "all but manage" holds alter on this catalog.
          const reply = await t.call({ method: 'PATCH', url: '/v', token: allBut.get('manage')!.token, body: { vmid, memory_size_mb: 512 } });
          outcomes[field] = `${reply.status} ${reply.body.code ?? ''}`.trim();
          await t.call({ method: 'DELETE', url: '/v', token: owner.token, body: { vmid, force: true } });
        }
        assert.deepEqual(outcomes, { storage_devices: '200', nics: '200' });
      },
    );
  });

  // ---------------------------------------------------------------- /r

  interface RCaller {
    who: string;
    token: () => string | undefined;
    /** undefined: not authenticated at all. */
    reach?: Reach;
    /** An API token limited to catalogs: refused every /r route. */
    limitedToken?: boolean;
    expired?: boolean;
    unknownId?: boolean;
  }

  const R_CALLERS: RCaller[] = [
    { who: 'owning group member', token: () => owner.token, reach: 'owning group' },
    { who: 'poolmanager', token: () => poolmanager, reach: 'every group' },
    { who: 'root', token: () => root, reach: 'every group' },
    { who: 'member of another group', token: () => stranger.token, reach: 'other group' },
    { who: 'holder of all seven permissions through a share', token: () => fullShare.token, reach: 'no group' },
    { who: 'catalogmanager', token: () => catalogmanagerOnly, reach: 'no group' },
    { who: 'usermanager', token: () => usermanager, reach: 'no group' },
    { who: 'owning group member naming an unknown id', token: () => owner.token, reach: 'owning group', unknownId: true },
    { who: 'owning group member\'s API token without limits', token: () => ownerUnlimitedToken, reach: 'owning group' },
    { who: 'owning group member\'s API token limited to a catalog', token: () => ownerElsewhereToken, reach: 'owning group', limitedToken: true },
    { who: 'no key', token: () => undefined },
    { who: 'unknown key', token: () => 'not-a-real-key' },
    { who: 'expired key of an owning group member', token: () => owner.token, expired: true },
  ];

  function rExpectation(endpoint: REndpoint, caller: RCaller): { status: number; code?: string } {
    if (!caller.reach || caller.expired) return { status: 401, code: AUTH_REQUIRED };
    if (caller.limitedToken) return { status: 401, code: PERMISSION_DENIED };
    if (endpoint.kind === 'list') return { status: 200 };
    if (caller.unknownId) return { status: 404, code: endpoint.notFound };
    return caller.reach === 'owning group' || caller.reach === 'every group' ? { status: 200 } : { status: 404, code: endpoint.notFound };
  }

  describe('/r (group-scoped)', () => {
    for (const endpoint of R_ENDPOINTS) {
      for (const caller of R_CALLERS) {
        if (caller.unknownId && endpoint.kind === 'list') continue;
        const expected = rExpectation(endpoint, caller);
        it(`${rowName(endpoint)} on the owning group's ${endpoint.kind === 'create' ? 'group' : 'resources'} by ${caller.who} → ${expected.status}`, async () => {
          let id = '';
          if (endpoint.fresh === 'storage') id = await createDisk(t, owner.token, ownersGid, `doomed-${++seq}`, 1);
          else if (endpoint.fresh === 'nic') id = await createNic(owner.token, ownersGid, `doomed ${++seq}`);
          else if (endpoint.target === 'storage') id = owned.stid;
          else if (endpoint.target === 'nic') id = owned.nicid;
          const context: RContext = {
            gid: caller.unknownId ? UNKNOWN_ID : ownersGid,
            id: caller.unknownId ? UNKNOWN_ID : id,
            name: `made-${++seq}`,
          };
          const before = await snapshot();
          const reply = await send(requestTo(endpoint, endpoint.request(context)), caller.token(), caller.expired ?? false);
          assert.equal(reply.status, expected.status, JSON.stringify(reply.body));
          if (expected.code) assert.equal(reply.body.code, expected.code, JSON.stringify(reply.body));
          if (reply.status !== 200) {
            assert.equal(typeof reply.body.message, 'string');
            assert.equal(await snapshot(), before, 'a refused request changes nothing');
            return;
          }
          await endpoint.verify?.(t, reply, context);
          if (endpoint.listed) {
            const listed = new Set(endpoint.listed(reply));
            const mine = endpoint.kindOfItem === 'storage' ? owned.stid : owned.nicid;
            const theirs = endpoint.kindOfItem === 'storage' ? others.stid : others.nicid;
            const seesOwning = caller.reach === 'owning group' || caller.reach === 'every group';
            const seesOther = caller.reach === 'other group' || caller.reach === 'every group';
            assert.equal(listed.has(mine), seesOwning, `the owning group's ${endpoint.kindOfItem} is ${seesOwning ? 'listed' : 'not listed'}`);
            assert.equal(listed.has(theirs), seesOther, `the other group's ${endpoint.kindOfItem} is ${seesOther ? 'listed' : 'not listed'}`);
            if (endpoint.kindOfItem === 'nic') assert.ok(listed.has(natNic), 'the built-in NAT NIC is listed for everyone');
          }
        });
      }
    }

    it('a share on the owning group\'s catalog gives no use of its storage or NICs in a VM definition', async () => {
      const before = await snapshot();
      for (const [field, rid, type] of [
        ['storage_devices', owned.stid, 'storage'],
        ['nics', owned.nicid, 'nic'],
      ] as const) {
        const reply = await t.call({
          method: 'PUT',
          url: '/v/efi',
          token: fullShare.token,
          body: { name: `borrower-${type}`, catalog: fullShare.cid, cpu_count: 1, memory_size_mb: 256, [field]: [rid] },
        });
        assert.equal(reply.status, 404, JSON.stringify(reply.body));
        assert.deepEqual([reply.body.code, reply.body.type, reply.body.rid], ['RESOURCE_NOT_FOUND', type, rid]);
      }
      assert.equal(await snapshot(), before);
    });
  });
});

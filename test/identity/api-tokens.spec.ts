import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { CATALOG_PERMISSIONS, CatalogPermission } from '../../src/catalogs/permissions/catalog-permission';
import { ERROR_CODES, ErrorCode } from '../../src/common/errors/error-codes';
import { CATALOG_COLLECTION_ENDPOINTS, CATALOG_ENDPOINTS } from '../catalogs/authorization-matrix.rows';
import { LogCapture } from '../support/log-capture';
import { MatrixRoute, routeKey } from '../support/matrix-route';
import { HANDSHAKE, rawUpgrade } from '../support/raw-upgrade';
import { json, SseClient } from '../support/sse-client';
import { Call, Reply, TestApp } from '../support/test-app';
import { createDisk, createEfiVm, makeVmWorld, setState, VmWorld } from '../support/vm-fixture';
import { R_ENDPOINTS, V_ENDPOINTS } from '../vms/authorization-matrix.rows';
import { IDENTITY_ENDPOINTS } from './authorization-matrix.rows';

/**
 * API tokens (`/u/token`): what a scoped token may and may not do, read-only tokens,
 * revocation and expiry (streams included), a user's lost share, the secret never stored or
 * logged in clear, and what tokens can never do.
 */

const NONE = Object.fromEntries(CATALOG_PERMISSIONS.map((p) => [p, false]));

interface Token {
  id: string;
  secret: string;
}

describe('API tokens', () => {
  let t: TestApp;
  let w: VmWorld;
  let port: number;
  /** A second catalog of the same owner. */
  let otherCid: string;

  before(async () => {
    t = await TestApp.start();
    port = await t.listen();
    w = await makeVmWorld(t, 'tokens');
    const other = await t.call({ method: 'PUT', url: '/c', token: w.owner.token, body: { group: w.gid, label: 'other catalog' } });
    assert.equal(other.status, 200);
    otherCid = other.body.cid;
  });
  after(() => t.close());

  function createToken(authkey: string, body: Record<string, unknown>): Promise<Token> {
    return t.createApiToken(authkey, body);
  }

  let names = 0;
  function scoped(cid: string, permissions: CatalogPermission[], extra: Record<string, unknown> = {}) {
    return { name: `t-${++names}`, catalogs: [{ cid, permissions }], ...extra };
  }

  async function tableRows(): Promise<string> {
    const tables = ['vms', 'storage', 'catalogs', 'catalog_shares', 'users', 'groups', 'memberships', 'api_tokens'];
    return JSON.stringify(await Promise.all(tables.map((table) => t.dataSource.query(`SELECT * FROM "${table}"`))));
  }

  function refused(reply: Reply, code: ErrorCode = 'PERMISSION_DENIED'): void {
    assert.equal(reply.body.code, code, JSON.stringify(reply.body));
    assert.equal(reply.status, ERROR_CODES[code].status);
  }

  it('a token limited to one catalog with view and state starts a VM there, and does nothing else', async () => {
    const vmid = await createEfiVm(t, w.owner.token, { name: 'started', catalog: w.cid });
    const stopped = await createEfiVm(t, w.owner.token, { name: 'untouched', catalog: w.cid });
    const elsewhere = await createEfiVm(t, w.owner.token, { name: 'elsewhere', catalog: otherCid });
    const token = await createToken(w.owner.token, scoped(w.cid, ['view', 'state']));
    const key = token.secret;
    assert.match(key, /^vtk_[A-Za-z0-9_-]{43}$/);

    const before = await tableRows();
    refused(await setState(t, key, elsewhere, 'RUNNING'), 'VM_NOT_FOUND');
    refused(await t.call({ method: 'GET', url: '/v', token: key, query: { vmid: elsewhere } }), 'VM_NOT_FOUND');
    refused(await t.call({ method: 'PATCH', url: '/v', token: key, body: { vmid: stopped, memory_size_mb: 512 } }));
    refused(await t.call({ method: 'DELETE', url: '/v', token: key, body: { vmid: stopped } }));
    refused(await t.call({ method: 'PUT', url: '/v/efi', token: key, body: { name: 'new', catalog: w.cid, cpu_count: 1, memory_size_mb: 256 } }));
    refused(await t.call({ method: 'GET', url: '/c/share', token: key, query: { cid: w.cid } }));
    refused(await t.call({ method: 'PUT', url: '/r/storage', token: key, body: { group: w.gid, name: 'disk', size_mb: 1 } }));
    refused(await t.call({ method: 'GET', url: '/r/storage/list', token: key }));
    refused(await t.call({ method: 'PUT', url: '/c', token: key, body: { group: w.gid, label: 'more' } }));
    refused(await t.call({ method: 'PUT', url: '/u/token', token: key, body: { name: 'child' } }));
    assert.equal(await tableRows(), before, 'refused requests change nothing');

    assert.equal((await setState(t, key, vmid, 'RUNNING')).status, 200);
    assert.equal((await t.call({ method: 'GET', url: '/v/state', token: key, query: { vmid } })).body.state, 'RUNNING');
    const list = await t.call({ method: 'GET', url: '/c/list', token: key });
    assert.equal(list.status, 200);
    assert.deepEqual(
      list.body.catalogs.map((c: { cid: string; permissions: object }) => [c.cid, c.permissions]),
      [[w.cid, { ...NONE, view: true, state: true }]],
      'the list shows the token\'s catalog with the token\'s permissions only',
    );
    assert.equal((await t.call({ method: 'GET', url: '/u/user', token: key })).body.uid, w.owner.uid);
    assert.equal((await setState(t, w.owner.token, vmid, 'STOPPED', true)).status, 200);
  });

  it('an unfiltered event stream of a token limited to one catalog carries that catalog\'s events only', async () => {
    const token = await createToken(w.owner.token, scoped(w.cid, ['view']));
    const stream = await SseClient.open(`http://127.0.0.1:${port}/v/events`, { authorization: `Bearer ${token.secret}` });
    assert.equal(stream.status, 200);
    const hidden = await createEfiVm(t, w.owner.token, { name: 'hidden', catalog: otherCid });
    const shown = await createEfiVm(t, w.owner.token, { name: 'shown', catalog: w.cid });
    await stream.waitFor((e) => e.event === 'created' && json(e).vmid === shown, 3000, 'the creation in the token\'s catalog');
    assert.deepEqual(stream.events.filter((e) => e.event !== 'end' && json(e).vmid === hidden), [], 'nothing of the other catalog');
    stream.close();
  });

  it('a token without a catalog list acts with all of its user\'s rights, beyond catalogs too', async () => {
    const token = await createToken(w.owner.token, { name: 'unscoped' });
    const stid = await createDisk(t, token.secret, w.gid, 'made-by-token', 1);
    assert.equal((await t.call({ method: 'GET', url: '/r/storage', token: token.secret, query: { stid } })).status, 200);
    const list = await t.call({ method: 'GET', url: '/c/list', token: token.secret });
    assert.deepEqual(list.body.catalogs.map((c: { cid: string }) => c.cid).sort(), [w.cid, otherCid].sort());
  });

  describe('a read-only token', () => {
    let key: string;
    let vmid: string;

    before(async () => {
      // Root's own: nothing but read-only-ness can refuse its requests.
      key = (await createToken(w.root, { name: 'reader', read_only: true })).secret;
      vmid = await createEfiVm(t, w.owner.token, { name: 'read', catalog: w.cid });
    });

    it('reads', async () => {
      const reads: Array<Pick<Call, 'url' | 'query'>> = [
        { url: '/u/user' },
        { url: '/u/user/list' },
        { url: '/c/list' },
        { url: '/c/share', query: { cid: w.cid } },
        { url: '/v', query: { vmid } },
        { url: '/v/list', query: { cid: w.cid } },
        { url: '/r/storage/list' },
      ];
      for (const call of reads) {
        const reply = await t.call({ method: 'GET', token: key, ...call });
        assert.equal(reply.status, 200, `${call.url}: ${JSON.stringify(reply.body)}`);
      }
      const events = await SseClient.open(`http://127.0.0.1:${port}/v/events`, { authorization: `Bearer ${key}` });
      assert.equal(events.status, 200);
      events.close();
    });

    // Every route that changes something, from the authorization matrices' rows.
    const mutating = new Map<string, MatrixRoute>();
    for (const row of [...IDENTITY_ENDPOINTS, ...CATALOG_ENDPOINTS, ...CATALOG_COLLECTION_ENDPOINTS, ...V_ENDPOINTS, ...R_ENDPOINTS]) {
      if (row.method !== 'GET') mutating.set(routeKey(row), row);
    }
    it(`is refused every request that changes something (${mutating.size} routes)`, async () => {
      const before = await tableRows();
      for (const route of mutating.values()) {
        const reply = await t.call({ method: route.method, url: route.path, token: key, body: { vmid, cid: w.cid } });
        assert.equal(reply.status, 401, `${routeKey(route)}: ${JSON.stringify(reply.body)}`);
        assert.equal(reply.body.code, 'PERMISSION_DENIED', routeKey(route));
      }
      assert.equal(await tableRows(), before);
    });

    it('cannot open a console (it takes input)', async () => {
      assert.equal((await setState(t, w.owner.token, vmid, 'RUNNING')).status, 200);
      try {
        const reply = await rawUpgrade(port, `/v/console/stream?vmid=${vmid}`, { ...HANDSHAKE, authorization: `Bearer ${key}` });
        assert.equal(reply.status, 401);
        assert.equal(reply.body.code, 'PERMISSION_DENIED');
      } finally {
        await setState(t, w.owner.token, vmid, 'STOPPED', true);
      }
    });
  });

  describe('revocation and expiry', () => {
    it('a revoked token is refused on the very next request', async () => {
      const token = await createToken(w.owner.token, { name: 'revoked' });
      assert.equal((await t.call({ method: 'GET', url: '/u/user', token: token.secret })).status, 200);
      assert.equal((await t.call({ method: 'DELETE', url: '/u/token', token: w.owner.token, body: { id: token.id } })).status, 200);
      refused(await t.call({ method: 'GET', url: '/u/user', token: token.secret }), 'AUTH_REQUIRED');
      refused(await t.call({ method: 'DELETE', url: '/u/token', token: w.owner.token, body: { id: token.id } }), 'TOKEN_NOT_FOUND');
    });

    it('an expired token is refused; one without expiry outlives any authkey', async () => {
      const expiring = await createToken(w.owner.token, { name: 'expiring', expires: t.clock.nowSeconds() + 60 });
      const lasting = await createToken(w.owner.token, { name: 'lasting' });
      const tenYears = 10 * 365 * 86400;
      assert.equal((await t.call({ method: 'GET', url: '/u/user', token: expiring.secret })).status, 200);
      t.clock.advance(61);
      try {
        refused(await t.call({ method: 'GET', url: '/u/user', token: expiring.secret }), 'AUTH_REQUIRED');
        t.clock.advance(tenYears);
        assert.equal((await t.call({ method: 'GET', url: '/u/user', token: lasting.secret })).status, 200);
      } finally {
        t.clock.advance(-(tenYears + 61));
      }
      const listed = await t.call({ method: 'GET', url: '/u/token', token: w.owner.token });
      const byName = new Map(listed.body.tokens.map((tk: { name: string }) => [tk.name, tk]));
      assert.equal((byName.get('lasting') as { expires: unknown }).expires, null);
      assert.equal(typeof (byName.get('expiring') as { expires: unknown }).expires, 'number');
    });

    it('refuses an expiry in the past', async () => {
      const reply = await t.call({ method: 'PUT', url: '/u/token', token: w.owner.token, body: { name: 'past', expires: t.clock.nowSeconds() } });
      refused(reply, 'VALIDATION_FAILED');
    });

    it('an event stream ends when its token is revoked; one without expiry stays open past every sweep', async () => {
      const token = await createToken(w.owner.token, scoped(w.cid, ['view']));
      const stream = await SseClient.open(`http://127.0.0.1:${port}/v/events?authkey=${token.secret}`);
      assert.equal(stream.status, 200);
      const lasting = await SseClient.open(`http://127.0.0.1:${port}/v/events`, { authorization: `Bearer ${(await createToken(w.owner.token, { name: 'watcher' })).secret}` });
      t.clock.advance(10 * 365 * 86400);
      try {
        // More than one expiry sweep (500 ms).
        await new Promise((resolve) => setTimeout(resolve, 1200));
        assert.equal(stream.ended, false, 'a token without expiry is never swept');
        assert.equal(lasting.ended, false);
      } finally {
        t.clock.advance(-10 * 365 * 86400);
      }
      assert.equal((await t.call({ method: 'DELETE', url: '/u/token', token: w.owner.token, body: { id: token.id } })).status, 200);
      await stream.untilEnded(2000);
      assert.equal(json(stream.named('end')[0]).code, 'AUTH_REQUIRED');
      assert.equal(lasting.ended, false, 'another token\'s stream goes on');
      lasting.close();
    });

    it('an expiring token\'s stream ends when it expires', async () => {
      const token = await createToken(w.owner.token, { name: 'short', expires: t.clock.nowSeconds() + 30 });
      const stream = await SseClient.open(`http://127.0.0.1:${port}/v/events`, { authorization: `Bearer ${token.secret}` });
      assert.equal(stream.status, 200);
      t.clock.advance(31);
      try {
        await stream.untilEnded(3000);
      } finally {
        t.clock.advance(-31);
      }
      assert.equal(json(stream.named('end')[0]).code, 'AUTH_REQUIRED');
    });

    it('a console socket closes (4401) when its token is revoked', async () => {
      const vmid = await createEfiVm(t, w.owner.token, { name: 'console', catalog: w.cid });
      assert.equal((await setState(t, w.owner.token, vmid, 'RUNNING')).status, 200);
      const token = await createToken(w.owner.token, scoped(w.cid, ['interact']));
      const ws = new WebSocket(`ws://127.0.0.1:${port}/v/console/stream?vmid=${vmid}&authkey=${token.secret}`);
      const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      assert.equal((await t.call({ method: 'DELETE', url: '/u/token', token: w.owner.token, body: { id: token.id } })).status, 200);
      assert.equal(await closed, 4401);
      await setState(t, w.owner.token, vmid, 'STOPPED', true);
    });

    it('a token of a user who loses a share loses it too, and deleting the user deletes their tokens', async () => {
      const member = await t.createUser(w.root, 'sharer');
      const share = { cid: w.cid, gid: member.personalGid, ...NONE, view: true, state: true };
      assert.equal((await t.call({ method: 'POST', url: '/c/share', token: w.owner.token, body: share })).status, 200);
      const vmid = await createEfiVm(t, w.owner.token, { name: 'shared', catalog: w.cid });
      const limited = await createToken(member.token, scoped(w.cid, ['view', 'state']));
      const whole = await createToken(member.token, { name: 'whole' });
      for (const key of [limited.secret, whole.secret]) {
        assert.equal((await t.call({ method: 'GET', url: '/v/state', token: key, query: { vmid } })).status, 200);
      }
      // Narrowed, not revoked: view stays, state goes.
      assert.equal((await t.call({ method: 'POST', url: '/c/share', token: w.owner.token, body: { ...share, state: false } })).status, 200);
      for (const key of [limited.secret, whole.secret]) {
        refused(await setState(t, key, vmid, 'RUNNING'));
      }
      assert.equal((await t.call({ method: 'DELETE', url: '/c/share', token: w.owner.token, body: { cid: w.cid, gid: member.personalGid } })).status, 200);
      for (const key of [limited.secret, whole.secret]) {
        refused(await t.call({ method: 'GET', url: '/v/state', token: key, query: { vmid } }), 'VM_NOT_FOUND');
      }

      assert.equal(await t.count('api_tokens', 'uid = ?', [member.uid]), 2);
      assert.equal((await t.call({ method: 'DELETE', url: '/u/user', token: w.root, body: { uid: member.uid } })).status, 200);
      assert.equal(await t.count('api_tokens', 'uid = ?', [member.uid]), 0);
      refused(await t.call({ method: 'GET', url: '/u/user', token: whole.secret }), 'AUTH_REQUIRED');
    });
  });

  describe('creating, listing, revoking', () => {
    it('a scope is a subset of the creator\'s rights: an invisible catalog is 404, a permission not held 401', async () => {
      const plain = await t.createUser(w.root, 'scoper');
      const before = await t.count('api_tokens');
      refused(await t.call({ method: 'PUT', url: '/u/token', token: plain.token, body: scoped(w.cid, ['view']) }), 'CATALOG_NOT_FOUND');
      await t.call({ method: 'POST', url: '/c/share', token: w.owner.token, body: { cid: w.cid, gid: plain.personalGid, ...NONE, view: true } });
      refused(await t.call({ method: 'PUT', url: '/u/token', token: plain.token, body: scoped(w.cid, ['view', 'remove']) }));
      assert.equal(await t.count('api_tokens'), before);
      await createToken(plain.token, scoped(w.cid, ['view']));
    });

    it('names are unique per user; bad scopes are 400', async () => {
      await createToken(w.owner.token, { name: 'twice' });
      refused(await t.call({ method: 'PUT', url: '/u/token', token: w.owner.token, body: { name: 'twice' } }), 'TOKEN_NAME_TAKEN');
      assert.equal((await t.call({ method: 'PUT', url: '/u/token', token: w.root, body: { name: 'twice' } })).status, 200, 'another user may use the name');
      for (const catalogs of [[{ cid: w.cid, permissions: [] }], [{ cid: w.cid, permissions: ['fly'] }], [{ cid: 'nope', permissions: ['view'] }], [{ cid: w.cid, permissions: ['view'] }, { cid: w.cid, permissions: ['state'] }], 'all']) {
        refused(await t.call({ method: 'PUT', url: '/u/token', token: w.owner.token, body: { name: 'bad', catalogs } }), 'VALIDATION_FAILED');
      }
    });

    it('lists the caller\'s own tokens without secrets; root lists anyone\'s; others are 401 for another user', async () => {
      const mine = await t.call({ method: 'GET', url: '/u/token', token: w.owner.token });
      assert.equal(mine.status, 200);
      assert.ok(mine.body.tokens.length > 0);
      assert.ok(mine.body.tokens.every((tk: { uid: string; secret?: string }) => tk.uid === w.owner.uid && tk.secret === undefined));
      const byRoot = await t.call({ method: 'GET', url: '/u/token', token: w.root, query: { uid: w.owner.uid } });
      assert.deepEqual(byRoot.body, mine.body);
      refused(await t.call({ method: 'GET', url: '/u/token', token: w.owner.token, query: { uid: (await t.call({ method: 'GET', url: '/u/user', token: w.root })).body.uid } }));
    });

    it('revokes only the caller\'s own tokens (root: anyone\'s)', async () => {
      const rootToken = await createToken(w.root, { name: 'roots' });
      refused(await t.call({ method: 'DELETE', url: '/u/token', token: w.owner.token, body: { id: rootToken.id } }), 'TOKEN_NOT_FOUND');
      assert.equal((await t.call({ method: 'GET', url: '/u/user', token: rootToken.secret })).status, 200);
      const ownerToken = await createToken(w.owner.token, { name: 'by-root' });
      assert.equal((await t.call({ method: 'DELETE', url: '/u/token', token: w.root, body: { id: ownerToken.id } })).status, 200);
      refused(await t.call({ method: 'GET', url: '/u/user', token: ownerToken.secret }), 'AUTH_REQUIRED');
    });
  });

  it('tokens cannot make tokens or change identity, nor renew or drop authkeys', async () => {
    // Root's token without limits: only its being a token refuses these.
    const token = await createToken(w.root, { name: 'no-identity' });
    const key = token.secret;
    const before = await tableRows();
    const calls: Call[] = [
      { method: 'PUT', url: '/u/token', body: { name: 'child' } },
      { method: 'GET', url: '/u/token' },
      { method: 'DELETE', url: '/u/token', body: { id: token.id } },
      { method: 'PUT', url: '/u/user', body: { username: 'made-by-token', password: 'password-123' } },
      { method: 'PUT', url: '/u/group', body: { groupname: 'made-by-token' } },
      { method: 'PUT', url: '/u/group/assign', body: { uid: w.owner.uid, groups: [await t.specialGroupId(w.root, 'usermanager')] } },
      { method: 'PATCH', url: '/u/auth' },
      { method: 'DELETE', url: '/u/auth' },
    ];
    for (const call of calls) refused(await t.call({ ...call, token: key }));
    assert.equal(await tableRows(), before);
    assert.equal((await t.call({ method: 'GET', url: '/u/user', token: key })).status, 200, 'the token still works');
  });

  it('stores only the secret\'s hash, and logs the token by its id, never its secret', async () => {
    const log = LogCapture.start();
    try {
      const token = await createToken(w.owner.token, { name: 'logged' });
      const rows: Array<Record<string, unknown>> = await t.dataSource.query('SELECT * FROM api_tokens WHERE id = ?', [token.id]);
      assert.equal(rows.length, 1);
      assert.equal(rows[0].secret_hash, createHash('sha256').update(token.secret).digest('hex'));
      assert.ok(!JSON.stringify(rows).includes(token.secret.slice(4)), 'the secret is not stored');

      const forms: Call[] = [
        { method: 'GET', url: '/c/list', token: token.secret },
        { method: 'GET', url: `/c/list?authkey=${token.secret}` },
        { method: 'GET', url: `/c/list?limit=5&auth%6Bey=${token.secret}` },
        { method: 'GET', url: '/c/list', body: { authkey: token.secret } },
        { method: 'PUT', url: '/u/token', body: { authkey: token.secret, name: 'refused' } },
        { method: 'GET', url: `/v?vmid=not-a-uuid&authkey=${token.secret}` },
      ];
      for (const form of forms) await t.call(form);
      // A revoked token in the query, refused.
      assert.equal((await t.call({ method: 'DELETE', url: '/u/token', token: w.owner.token, body: { id: token.id } })).status, 200);
      assert.equal((await t.call({ method: 'GET', url: `/c/list?authkey=${token.secret}` })).status, 401);

      assert.deepEqual(log.containing(token.secret.slice(4)), [], 'the secret is never logged');
      const accessLines = log.containing(`token=${token.id}`);
      assert.equal(accessLines.length, forms.length, 'each request made with the token is logged with its id');
      assert.ok(accessLines.some((line) => line.text.includes('/c/list?authkey=[redacted]')));
    } finally {
      log.stop();
    }
  });
});

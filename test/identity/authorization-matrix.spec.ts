import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { requestTo, rowName } from '../support/matrix-route';
import { TestApp } from '../support/test-app';
import { IDENTITY_ENDPOINTS, IdentityEndpoint, IdentityFixture } from './authorization-matrix.rows';

/**
 * Generated authorization cases for every /u endpoint and GET /audit: root, a usermanager,
 * a plain user, API tokens (without limits) of root and of the plain user, no key, an unknown
 * key and an expired key; every refused request leaves the identity tables as they were.
 */
type Caller = 'root' | 'usermanager' | 'plain' | 'api token of root' | 'api token of plain' | 'no key' | 'unknown key' | 'expired key';

const API_TOKEN_CALLERS: ReadonlySet<Caller> = new Set(['api token of root', 'api token of plain']);

describe('identity authorization matrix', () => {
  let t: TestApp;
  const tokens = new Map<Caller, string | undefined>();
  let fixture: IdentityFixture;
  let n = 0;

  before(async () => {
    t = await TestApp.start();
    const root = await t.loginRoot();
    const usermanager = await t.specialGroupId(root, 'usermanager');
    tokens.set('root', root);
    tokens.set('usermanager', (await t.createUser(root, 'um', [usermanager])).token);
    const plain = await t.createUser(root, 'plain');
    tokens.set('plain', plain.token);
    const tokenOf = (authkey: string, name: string) => t.createApiToken(authkey, { name });
    tokens.set('api token of root', (await tokenOf(root, 'matrix')).secret);
    tokens.set('api token of plain', (await tokenOf(plain.token, 'matrix')).secret);
    const authkeys = new Set([root, tokens.get('usermanager'), plain.token]);
    tokens.set('no key', undefined);
    tokens.set('unknown key', 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    fixture = {
      victim: async (i) => (await t.createUser(root, `victim-${i}`)).uid,
      group: async (i) => t.createGroup(root, `doomed-${i}`),
      plainUid: plain.uid,
      plainGid: plain.personalGid,
      extraGid: await t.createGroup(root, 'extra'),
      ownToken: async (authkey, i) => (await tokenOf(authkey && authkeys.has(authkey) ? authkey : root, `own-${i}`)).id,
    };
  });
  after(() => t.close());

  function expected(endpoint: IdentityEndpoint, caller: Caller): { status: number; code?: string } {
    if (caller === 'no key' || caller === 'unknown key' || caller === 'expired key') return { status: 401, code: 'AUTH_REQUIRED' };
    if (API_TOKEN_CALLERS.has(caller) && endpoint.apiTokens === 'refused') return { status: 401, code: 'PERMISSION_DENIED' };
    const plain = caller === 'plain' || caller === 'api token of plain';
    if (endpoint.needs === 'usermanager' && plain) return { status: 401, code: 'PERMISSION_DENIED' };
    if (endpoint.needs === 'root' && caller !== 'root' && caller !== 'api token of root') return { status: 401, code: 'PERMISSION_DENIED' };
    // Another group's limits and use are not the caller's to see, as its resources are not.
    if (endpoint.needs === 'member' && plain) return { status: 404, code: 'GROUP_NOT_FOUND' };
    return { status: 200 };
  }

  async function snapshot(): Promise<string> {
    const rows = await Promise.all(
      [
        'SELECT * FROM users ORDER BY uid',
        'SELECT * FROM groups ORDER BY gid',
        'SELECT * FROM memberships ORDER BY uid, gid',
        'SELECT * FROM api_tokens ORDER BY id',
        'SELECT * FROM group_quotas ORDER BY gid',
      ].map((q) => t.dataSource.query(q)),
    );
    return JSON.stringify(rows);
  }

  const CALLERS: Caller[] = ['root', 'usermanager', 'plain', 'api token of root', 'api token of plain', 'no key', 'unknown key', 'expired key'];
  for (const endpoint of IDENTITY_ENDPOINTS) {
    for (const caller of CALLERS) {
      const { status, code } = expected(endpoint, caller);
      it(`${rowName(endpoint)} by ${caller} → ${status}`, async () => {
        const request = requestTo(endpoint, await endpoint.request(++n, fixture, tokens.get(caller)));
        const before = await snapshot();
        let token = tokens.get(caller);
        if (caller === 'expired key') {
          token = await t.login('um', 'um-password');
          t.clock.advance(t.config.authkeyTtlSeconds + 1);
        }
        try {
          const reply = await t.call({ ...request, token });
          assert.equal(reply.status, status, JSON.stringify(reply.body));
          if (status !== 200) {
            assert.equal(reply.body.code, code);
            assert.equal(await snapshot(), before, 'a refused request changes nothing');
          }
        } finally {
          if (caller === 'expired key') t.clock.advance(-(t.config.authkeyTtlSeconds + 1));
        }
      });
    }
  }

  it('POST /u/auth needs no key; PATCH /u/auth refuses a missing, unknown or expired key with 403', async () => {
    const login = await t.call({ method: 'POST', url: '/u/auth', body: { username: 'plain', password: 'plain-password' } });
    assert.equal(login.status, 200);
    for (const token of [undefined, 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA']) {
      assert.equal((await t.call({ method: 'PATCH', url: '/u/auth', token })).status, 403);
    }
    t.clock.advance(t.config.authkeyTtlSeconds + 1);
    try {
      assert.equal((await t.call({ method: 'PATCH', url: '/u/auth', token: login.body.authkey })).status, 403);
    } finally {
      t.clock.advance(-(t.config.authkeyTtlSeconds + 1));
    }
  });

  it('another user\'s API token: not revoked (404) but by root, not listed (401) but for root', async () => {
    const root = tokens.get('root')!;
    const rootToken = await t.call({ method: 'PUT', url: '/u/token', token: root, body: { name: `others-${++n}` } });
    const rootUid = (await t.call({ method: 'GET', url: '/u/user', token: root })).body.uid;
    const before = await snapshot();
    for (const caller of ['usermanager', 'plain'] as const) {
      const revoke = await t.call({ method: 'DELETE', url: '/u/token', token: tokens.get(caller), body: { id: rootToken.body.id } });
      assert.deepEqual([revoke.status, revoke.body.code], [404, 'TOKEN_NOT_FOUND']);
      const list = await t.call({ method: 'GET', url: '/u/token', token: tokens.get(caller), query: { uid: rootUid } });
      assert.deepEqual([list.status, list.body.code], [401, 'PERMISSION_DENIED']);
    }
    assert.equal(await snapshot(), before);
  });

  it('PATCH and DELETE /u/auth refuse an API token (401), which keeps working', async () => {
    for (const method of ['PATCH', 'DELETE'] as const) {
      const reply = await t.call({ method, url: '/u/auth', token: tokens.get('api token of plain') });
      assert.deepEqual([reply.status, reply.body.code], [401, 'PERMISSION_DENIED']);
    }
    assert.equal((await t.call({ method: 'GET', url: '/u/user', token: tokens.get('api token of plain') })).status, 200);
  });

  it('health and readiness need no key', async () => {
    assert.equal((await t.call({ method: 'GET', url: '/health' })).status, 200);
    assert.equal((await t.call({ method: 'GET', url: '/ready' })).status, 200);
  });
});

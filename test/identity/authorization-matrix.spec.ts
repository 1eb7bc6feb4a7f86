import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Call, TestApp } from '../support/test-app';

/**
 * Generated authorization cases for every /u endpoint: root, a usermanager, a plain user,
 * no key, an unknown key and an expired key; every refused request leaves the identity
 * tables as they were.
 */
type Caller = 'root' | 'usermanager' | 'plain' | 'no key' | 'unknown key' | 'expired key';

interface Endpoint {
  name: string;
  /** Who may: 'usermanager' (and root) or 'any' authenticated user. */
  needs: 'usermanager' | 'any';
  /** Builds a fresh request (fresh names and victims, so allowed cases can run repeatedly). */
  request: (n: number) => Promise<Omit<Call, 'token'>>;
}

describe('identity authorization matrix', () => {
  let t: TestApp;
  const tokens = new Map<Caller, string | undefined>();
  let plainUid: string;
  let extraGid: string;
  let n = 0;

  before(async () => {
    t = await TestApp.start();
    const root = await t.loginRoot();
    const usermanager = await t.specialGroupId(root, 'usermanager');
    tokens.set('root', root);
    tokens.set('usermanager', (await t.createUser(root, 'um', [usermanager])).token);
    const plain = await t.createUser(root, 'plain');
    plainUid = plain.uid;
    tokens.set('plain', plain.token);
    tokens.set('no key', undefined);
    tokens.set('unknown key', 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    extraGid = await t.createGroup(root, 'extra');
  });
  after(() => t.close());

  const victim = async (i: number) => (await t.createUser(tokens.get('root')!, `victim-${i}`)).uid;
  const group = async (i: number) => t.createGroup(tokens.get('root')!, `doomed-${i}`);

  const ENDPOINTS: Endpoint[] = [
    { name: 'PUT /u/user', needs: 'usermanager', request: async (i) => ({ method: 'PUT', url: '/u/user', body: { username: `new-${i}`, password: 'password-123' } }) },
    { name: 'DELETE /u/user', needs: 'usermanager', request: async (i) => ({ method: 'DELETE', url: '/u/user', body: { uid: await victim(i) } }) },
    { name: 'GET /u/user', needs: 'any', request: async () => ({ method: 'GET', url: '/u/user' }) },
    { name: 'GET /u/user/list', needs: 'usermanager', request: async () => ({ method: 'GET', url: '/u/user/list' }) },
    { name: 'PUT /u/group', needs: 'usermanager', request: async (i) => ({ method: 'PUT', url: '/u/group', body: { groupname: `g-${i}` } }) },
    { name: 'DELETE /u/group', needs: 'usermanager', request: async (i) => ({ method: 'DELETE', url: '/u/group', body: { gid: await group(i) } }) },
    { name: 'GET /u/group/list', needs: 'any', request: async () => ({ method: 'GET', url: '/u/group/list' }) },
    { name: 'PUT /u/group/assign', needs: 'usermanager', request: async () => ({ method: 'PUT', url: '/u/group/assign', body: { uid: plainUid, groups: [extraGid] } }) },
    { name: 'DELETE /u/group/assign', needs: 'usermanager', request: async () => ({ method: 'DELETE', url: '/u/group/assign', body: { uid: plainUid, groups: [extraGid] } }) },
  ];

  function expected(endpoint: Endpoint, caller: Caller): number {
    if (caller === 'no key' || caller === 'unknown key' || caller === 'expired key') return 401;
    if (endpoint.needs === 'usermanager' && caller === 'plain') return 401;
    return 200;
  }

  async function snapshot(): Promise<string> {
    const rows = await Promise.all(
      ['SELECT * FROM users ORDER BY uid', 'SELECT * FROM groups ORDER BY gid', 'SELECT * FROM memberships ORDER BY uid, gid'].map((q) => t.dataSource.query(q)),
    );
    return JSON.stringify(rows);
  }

  const CALLERS: Caller[] = ['root', 'usermanager', 'plain', 'no key', 'unknown key', 'expired key'];
  for (const endpoint of ENDPOINTS) {
    for (const caller of CALLERS) {
      const status = expected(endpoint, caller);
      it(`${endpoint.name} by ${caller} → ${status}`, async () => {
        const request = await endpoint.request(++n);
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
            assert.equal(reply.body.code, caller === 'plain' ? 'PERMISSION_DENIED' : 'AUTH_REQUIRED');
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

  it('health and readiness need no key', async () => {
    assert.equal((await t.call({ method: 'GET', url: '/health' })).status, 200);
    assert.equal((await t.call({ method: 'GET', url: '/ready' })).status, 200);
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { requestTo, rowName } from '../support/matrix-route';
import { TestApp } from '../support/test-app';
import { IDENTITY_ENDPOINTS, IdentityEndpoint, IdentityFixture } from './authorization-matrix.rows';

/**
 * Generated authorization cases for every /u endpoint and GET /audit: root, a usermanager, a plain user,
 * no key, an unknown key and an expired key; every refused request leaves the identity
 * tables as they were.
 */
type Caller = 'root' | 'usermanager' | 'plain' | 'no key' | 'unknown key' | 'expired key';

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
    tokens.set('no key', undefined);
    tokens.set('unknown key', 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    fixture = {
      victim: async (i) => (await t.createUser(root, `victim-${i}`)).uid,
      group: async (i) => t.createGroup(root, `doomed-${i}`),
      plainUid: plain.uid,
      extraGid: await t.createGroup(root, 'extra'),
    };
  });
  after(() => t.close());

  function expected(endpoint: IdentityEndpoint, caller: Caller): number {
    if (caller === 'no key' || caller === 'unknown key' || caller === 'expired key') return 401;
    if (endpoint.needs === 'usermanager' && caller === 'plain') return 401;
    if (endpoint.needs === 'root' && caller !== 'root') return 401;
    return 200;
  }

  async function snapshot(): Promise<string> {
    const rows = await Promise.all(
      ['SELECT * FROM users ORDER BY uid', 'SELECT * FROM groups ORDER BY gid', 'SELECT * FROM memberships ORDER BY uid, gid'].map((q) => t.dataSource.query(q)),
    );
    return JSON.stringify(rows);
  }

  const CALLERS: Caller[] = ['root', 'usermanager', 'plain', 'no key', 'unknown key', 'expired key'];
  for (const endpoint of IDENTITY_ENDPOINTS) {
    for (const caller of CALLERS) {
      const status = expected(endpoint, caller);
      it(`${rowName(endpoint)} by ${caller} → ${status}`, async () => {
        const request = requestTo(endpoint, await endpoint.request(++n, fixture));
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
            assert.equal(reply.body.code, caller === 'plain' || caller === 'usermanager' ? 'PERMISSION_DENIED' : 'AUTH_REQUIRED');
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

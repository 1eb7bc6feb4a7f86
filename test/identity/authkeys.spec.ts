import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestApp, ROOT_PASSWORD } from '../support/test-app';

describe('authkeys: login, renew, logout, expiry', () => {
  let t: TestApp;
  before(async () => {
    t = await TestApp.start({ env: { VELOCITY_AUTHKEY_TTL: '600' } });
  });
  after(() => t.close());

  it('login returns a key that expires after the configured TTL, stored only as a hash', async () => {
    const before = t.clock.nowSeconds();
    const reply = await t.call({ method: 'POST', url: '/u/auth', body: { username: 'root', password: ROOT_PASSWORD } });
    assert.equal(reply.status, 200);
    assert.match(reply.body.authkey, /^[A-Za-z0-9_-]{43}$/, '256 random bits, base64url');
    assert.ok(reply.body.expires >= before + 600 && reply.body.expires <= before + 601);
    const rows = await t.dataSource.query('SELECT key_hash FROM authkeys');
    assert.ok(rows.length >= 1);
    assert.ok(rows.every((r: { key_hash: string }) => r.key_hash !== reply.body.authkey && /^[0-9a-f]{64}$/.test(r.key_hash)));
  });

  it('a wrong password or an unknown user gets 403 INVALID_CREDENTIALS', async () => {
    for (const body of [
      { username: 'root', password: 'wrong-password' },
      { username: 'nobody', password: 'whatever-password' },
    ]) {
      const reply = await t.call({ method: 'POST', url: '/u/auth', body });
      assert.equal(reply.status, 403);
      assert.deepEqual(reply.body, { code: 'INVALID_CREDENTIALS', message: 'Wrong username or password' });
    }
  });

  it('renew gives a new key and the old one gets 401 at once', async () => {
    const old = await t.loginRoot();
    const renewed = await t.call({ method: 'PATCH', url: '/u/auth', token: old });
    assert.equal(renewed.status, 200);
    assert.notEqual(renewed.body.authkey, old);
    assert.equal((await t.call({ method: 'GET', url: '/u/user', token: old })).status, 401);
    assert.equal((await t.call({ method: 'GET', url: '/u/user', token: renewed.body.authkey })).status, 200);
    // Renewing the dropped key again is refused.
    const again = await t.call({ method: 'PATCH', url: '/u/auth', token: old });
    assert.equal(again.status, 403);
    assert.equal(again.body.code, 'AUTHKEY_INVALID');
  });

  it('renew also takes the key from the body', async () => {
    const key = await t.loginRoot();
    const renewed = await t.call({ method: 'PATCH', url: '/u/auth', body: { authkey: key } });
    assert.equal(renewed.status, 200);
    assert.equal((await t.call({ method: 'GET', url: '/u/user', token: key })).status, 401);
  });

  it('logout drops the key; logging out an unknown key is still 200', async () => {
    const key = await t.loginRoot();
    const out = await t.call({ method: 'DELETE', url: '/u/auth', token: key });
    assert.equal(out.status, 200);
    assert.deepEqual(out.body, { revoked: true });
    assert.equal((await t.call({ method: 'GET', url: '/u/user', token: key })).status, 401);
    assert.equal((await t.call({ method: 'DELETE', url: '/u/auth', token: 'not-a-key' })).status, 200);
  });

  it('an expired key gets 401, and cannot be renewed', async () => {
    const key = await t.loginRoot();
    assert.equal((await t.call({ method: 'GET', url: '/u/user', token: key })).status, 200);
    t.clock.advance(601);
    const reply = await t.call({ method: 'GET', url: '/u/user', token: key });
    assert.equal(reply.status, 401);
    assert.equal(reply.body.code, 'AUTH_REQUIRED');
    assert.equal((await t.call({ method: 'PATCH', url: '/u/auth', token: key })).status, 403);
  });

  it('expired keys are purged from the database at the next login', async () => {
    t.clock.advance(10_000);
    await t.loginRoot();
    assert.equal(await t.count('authkeys', 'expires_at <= ?', [t.clock.nowSeconds()]), 0);
  });

  it('the key works in the header, a POST body, a GET body and a GET query', async () => {
    const key = await t.loginRoot();
    const header = await t.call({ method: 'GET', url: '/u/user', token: key });
    const getBody = await t.call({ method: 'GET', url: '/u/user', body: { authkey: key } });
    const getQuery = await t.call({ method: 'GET', url: '/u/user', query: { authkey: key } });
    for (const reply of [header, getBody, getQuery]) {
      assert.equal(reply.status, 200);
      assert.equal(reply.body.username, 'root');
    }
    const postBody = await t.call({ method: 'PUT', url: '/u/group', body: { authkey: key, groupname: 'via-body' } });
    assert.equal(postBody.status, 200);
    assert.equal(postBody.body.groupname, 'via-body');
  });

  it('requests without a key, or with a malformed header, get 401 in the error shape', async () => {
    for (const headers of [{}, { authorization: 'Basic abc' }, { authorization: 'Bearer' }] as Record<string, string>[]) {
      const reply = await t.call({ method: 'GET', url: '/u/user', headers });
      assert.equal(reply.status, 401);
      assert.equal(reply.body.code, 'AUTH_REQUIRED');
      assert.equal(typeof reply.body.message, 'string');
    }
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { randomUUID } from 'node:crypto';
import { AccessChanges } from '../../src/common/access-changes';
import { TestApp } from '../support/test-app';
import { JSON_BODY_LIMIT } from '../../src/app.setup';

describe('bad input gets 400 in the error shape and writes nothing', () => {
  let t: TestApp;
  let root: string;
  let snapshot: () => Promise<number[]>;

  before(async () => {
    t = await TestApp.start();
    root = await t.loginRoot();
    snapshot = async () => [await t.count('users'), await t.count('groups'), await t.count('memberships')];
  });
  after(() => t.close());

  function assertErrorShape(body: Record<string, unknown>): void {
    assert.equal(typeof body.code, 'string');
    assert.equal(typeof body.message, 'string');
    const text = JSON.stringify(body);
    assert.doesNotMatch(text, /at \w+ \(|\.ts:\d+|SQLITE|SELECT |INSERT /, 'no stack traces or SQL');
  }

  const cases: Array<{ name: string; call: () => Promise<{ status: number; body: any }>; status: number; code: string; fields?: string[] }> = [
    {
      name: 'missing fields',
      call: () => t.call({ method: 'PUT', url: '/u/user', token: root, body: {} }),
      status: 400,
      code: 'VALIDATION_FAILED',
      fields: ['username', 'password'],
    },
    {
      name: 'wrong types',
      call: () => t.call({ method: 'PUT', url: '/u/user', token: root, body: { username: 42, password: ['x'], groups: 'all' } }),
      status: 400,
      code: 'VALIDATION_FAILED',
      fields: ['username', 'password', 'groups'],
    },
    {
      name: 'unknown fields',
      call: () => t.call({ method: 'PUT', url: '/u/group', token: root, body: { groupname: 'fine', admin: true } }),
      status: 400,
      code: 'VALIDATION_FAILED',
      fields: ['admin'],
    },
    {
      name: 'a bad uuid in a list',
      call: () => t.call({ method: 'PUT', url: '/u/group/assign', token: root, body: { uid: 'x', groups: ['nope'] } }),
      status: 400,
      code: 'VALIDATION_FAILED',
      fields: ['uid', 'groups'],
    },
    {
      name: 'malformed JSON',
      call: () => t.call({ method: 'PUT', url: '/u/group', token: root, payload: '{"groupname": "half', headers: { 'content-type': 'application/json' } }),
      status: 400,
      code: 'MALFORMED_BODY',
    },
    {
      name: 'JSON sent as text/plain',
      call: () => t.call({ method: 'PUT', url: '/u/group', token: root, payload: '{"groupname": "plain"}', headers: { 'content-type': 'text/plain' } }),
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
    },
    {
      name: 'a JSON array instead of an object',
      call: () => t.call({ method: 'PUT', url: '/u/group', token: root, body: [{ groupname: 'x' }] }),
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'an oversized body',
      call: () =>
        t.call({ method: 'PUT', url: '/u/group', token: root, body: { groupname: 'big', padding: 'x'.repeat(JSON_BODY_LIMIT + 10) } }),
      status: 413,
      code: 'BODY_TOO_LARGE',
    },
    {
      name: 'a login with an over-long password',
      call: () => t.call({ method: 'POST', url: '/u/auth', body: { username: 'root', password: 'p'.repeat(5000) } }),
      status: 400,
      code: 'VALIDATION_FAILED',
      fields: ['password'],
    },
  ];

  for (const c of cases) {
    it(c.name, async () => {
      const before = await snapshot();
      const reply = await c.call();
      assert.equal(reply.status, c.status, JSON.stringify(reply.body));
      assert.equal(reply.body.code, c.code);
      assertErrorShape(reply.body);
      for (const field of c.fields ?? []) assert.match(reply.body.message, new RegExp(`\\b${field}\\b`));
      assert.deepEqual(await snapshot(), before);
    });
  }

  it('unknown routes get 404 in the error shape', async () => {
    const reply = await t.call({ method: 'GET', url: '/no/such/route', token: root });
    assert.equal(reply.status, 404);
    assert.equal(reply.body.code, 'NOT_FOUND');
    assertErrorShape(reply.body);
  });

  it('a path with the wrong method gets 405 with Allow; OPTIONS names the methods; neither changes anything', async () => {
    const before = await snapshot();
    const wrong = await t.call({ method: 'PUT', url: '/v/state', token: root, body: { vmid: '00000000-0000-4000-8000-0000000000ff', state: 'RUNNING' } });
    assert.deepEqual([wrong.status, wrong.body.code, wrong.headers.allow], [405, 'METHOD_NOT_ALLOWED', 'GET, HEAD, POST']);
    assertErrorShape(wrong.body);
    assert.match(wrong.body.message, /PUT is not allowed on \/v\/state/);
    const options = await t.app.inject({ method: 'OPTIONS', url: '/u/auth' });
    assert.deepEqual([options.statusCode, options.headers.allow, options.body], [204, 'DELETE, PATCH, POST', '']);
    // A path that does not exist stays a 404, whatever the method.
    assert.equal((await t.app.inject({ method: 'OPTIONS', url: '/no/such/route' })).statusCode, 404);
    assert.deepEqual(await snapshot(), before);
  });

  it('an empty body with Content-Type: application/json is no body, not malformed JSON', async () => {
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${root}` };
    const list = await t.app.inject({ method: 'GET', url: '/c/list', headers });
    assert.equal(list.statusCode, 200, list.body);
    // A handler that needs fields says which are missing.
    const missing = await t.app.inject({ method: 'DELETE', url: '/u/group', headers });
    assert.deepEqual([missing.statusCode, JSON.parse(missing.body).code], [400, 'VALIDATION_FAILED']);
    assert.match(JSON.parse(missing.body).message, /\bgid\b/);
    const key = await t.loginRoot();
    const logout = await t.app.inject({ method: 'DELETE', url: '/u/auth', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` } });
    assert.equal(logout.statusCode, 200, logout.body);
    assert.equal((await t.call({ method: 'GET', url: '/c/list', token: key })).status, 401, 'the key is gone');
  });

  it('every response carries a request id (a client cannot choose it: see request-id.spec)', async () => {
    const fresh = await t.call({ method: 'GET', url: '/health' });
    assert.match(String(fresh.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  });

  it('health and ready need no authkey', async () => {
    const health = await t.call({ method: 'GET', url: '/health' });
    assert.equal(health.status, 200);
    assert.equal(health.body.status, 'ok');
    const ready = await t.call({ method: 'GET', url: '/ready' });
    assert.deepEqual([ready.status, ready.body], [200, { status: 'ready' }]);
  });

  it('an uncaught failure gets 500 in the same shape, without SQL or a stack (run last: it breaks the schema)', async () => {
    await t.dataSource.query('DROP TABLE catalog_shares');
    // Written behind the server's back: said the way any writer says it, so /c/list reads again.
    t.app.get(AccessChanges).publish({ kind: 'group-deleted', gid: randomUUID() });
    const reply = await t.call({ method: 'GET', url: '/c/list', token: root });
    assert.equal(reply.status, 500);
    assert.deepEqual(reply.body, { code: 'INTERNAL_ERROR', message: 'Internal server error' });
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { JSON_DEPTH_LIMIT } from '../../src/common/http/json-depth';
import { LogCapture } from '../support/log-capture';
import { TestApp } from '../support/test-app';

/** `{"a": {"a": … 1 …}}` with `levels` objects, or `[[… 1 …]]` with `levels` arrays. */
function nested(levels: number, kind: 'object' | 'array'): string {
  const [open, close] = kind === 'object' ? ['{"a":', '}'] : ['[', ']'];
  return `${open.repeat(levels)}1${close.repeat(levels)}`;
}

function json(fields: Record<string, unknown>, deep: string): string {
  return `${JSON.stringify(fields).slice(0, -1)},"deep":${deep}}`;
}

describe('deeply nested and oversized bodies are refused before validation', () => {
  let t: TestApp;
  let log: LogCapture;
  let root: string;

  before(async () => {
    t = await TestApp.start();
    log = LogCapture.start();
    root = await t.loginRoot();
  });
  after(async () => {
    log.stop();
    await t.close();
  });

  const post = (url: string, payload: string, token?: string) =>
    t.call({ method: url === '/u/auth' ? 'POST' : 'PUT', url, token, payload, headers: { 'content-type': 'application/json' } });

  for (const kind of ['object', 'array'] as const) {
    it(`a login nested 1,000 ${kind}s deep: 400 MALFORMED_BODY, without an authkey and without a stack in the log`, async () => {
      const payload = json({ username: 'root', password: 'x' }, nested(1000, kind));
      assert.ok(Buffer.byteLength(payload) < 8 * 1024);
      const reply = await post('/u/auth', payload);
      assert.equal(reply.status, 400, JSON.stringify(reply.body));
      assert.equal(reply.body.code, 'MALFORMED_BODY');
      assert.match(reply.body.message, new RegExp(`deeper than ${JSON_DEPTH_LIMIT} levels`));
      assert.deepEqual(log.at('error'), []);
    });
  }

  it('3,000 levels (18 KB, the reported body) on an authenticated route with the 1 MiB limit: 400, no stack', async () => {
    const reply = await post('/u/group', json({ groupname: 'deep' }, nested(3000, 'object')), root);
    assert.deepEqual([reply.status, reply.body.code], [400, 'MALFORMED_BODY']);
    assert.deepEqual(log.at('error'), []);
    assert.equal(await t.count('groups', 'groupname = ?', ['deep']), 0);
  });

  it(`${JSON_DEPTH_LIMIT} levels reach validation; one more does not`, async () => {
    // The body object is the first level.
    const atLimit = await post('/u/group', json({ groupname: 'at-limit' }, nested(JSON_DEPTH_LIMIT - 1, 'object')), root);
    assert.deepEqual([atLimit.status, atLimit.body.code], [400, 'VALIDATION_FAILED']);
    assert.match(atLimit.body.message, /deep: unknown field/);
    const over = await post('/u/group', json({ groupname: 'over-limit' }, nested(JSON_DEPTH_LIMIT, 'object')), root);
    assert.deepEqual([over.status, over.body.code], [400, 'MALFORMED_BODY']);
  });

  it('POST /u/auth reads at most 8 KiB: the reported 18 KB body gets 413, the largest valid login still gets in', async () => {
    const reportedBody = json({ username: 'root', password: 'x' }, nested(3000, 'object'));
    assert.ok(Buffer.byteLength(reportedBody) > 18_000);
    const reported = await post('/u/auth', reportedBody);
    assert.deepEqual([reported.status, reported.body.code], [413, 'BODY_TOO_LARGE']);
    // 64- and 1024-character fields, every character as a \u escape.
    const escaped = (text: string) => [...text].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
    const largest = `{"username":"${escaped('r'.repeat(64))}","password":"${escaped('p'.repeat(1024))}"}`;
    assert.ok(Buffer.byteLength(largest) > 6 * 1024);
    const login = await post('/u/auth', largest);
    assert.deepEqual([login.status, login.body.code], [403, 'INVALID_CREDENTIALS']);
    assert.deepEqual(log.at('error'), []);
  });
});

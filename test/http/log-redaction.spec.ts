import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { LogCapture } from '../support/log-capture';
import { Call, TestApp } from '../support/test-app';

/**
 * Every way a request can carry an authkey, through answered requests and through an
 * unexpected 500 (a dropped table: what a broken database looks like), and then a look
 * through the whole server log for the key.
 */
describe('authkeys never reach the log', () => {
  let t: TestApp;
  let log: LogCapture;
  let key: string;

  before(async () => {
    t = await TestApp.start();
    log = LogCapture.start();
    key = await t.loginRoot();
  });
  after(async () => {
    log.stop();
    await t.close();
  });

  // Each form, with whether the server accepts it as the authkey (refused forms still carry one).
  const forms: Array<{ name: string; accepted: boolean; call: (method: Call['method'], url: string) => Call }> = [
    { name: 'Authorization: Bearer', accepted: true, call: (method, url) => ({ method, url, token: key }) },
    { name: '?authkey=', accepted: true, call: (method, url) => ({ method, url: `${url}?authkey=${key}` }) },
    { name: '?auth%6Bey= (percent-encoded name)', accepted: true, call: (method, url) => ({ method, url: `${url}?limit=5&auth%6Bey=${key}` }) },
    { name: '?%61uthkey= (percent-encoded name)', accepted: true, call: (method, url) => ({ method, url: `${url}?%61uthkey=${key}&offset=0` }) },
    { name: '?authkey= twice', accepted: false, call: (method, url) => ({ method, url: `${url}?authkey=${key}&authkey=${key}` }) },
    { name: '?authkey[]=', accepted: false, call: (method, url) => ({ method, url: `${url}?authkey[]=${key}` }) },
    { name: '?AUTHKEY=', accepted: false, call: (method, url) => ({ method, url: `${url}?AUTHKEY=${key}` }) },
    { name: 'JSON body', accepted: true, call: (method, url) => ({ method, url, body: { authkey: key } }) },
    {
      name: 'form-encoded body',
      accepted: true,
      call: (method, url) => ({ method, url, payload: `auth%6Bey=${key}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
    },
  ];

  it('on answered requests (GET, with the query or a GET body)', async () => {
    for (const form of forms) {
      const reply = await t.call(form.call('GET', '/u/group/list'));
      assert.equal(reply.status, form.accepted ? 200 : 401, `${form.name}: ${JSON.stringify(reply.body)}`);
    }
    assert.deepEqual(log.containing(key), []);
  });

  it('on requests with a body (PUT)', async () => {
    for (const [i, form] of forms.entries()) {
      const call = form.call('PUT', '/u/group');
      // The group name goes in the body beside a body authkey, or is the body.
      if (call.body) call.body = { ...(call.body as object), groupname: `logged-${i}` };
      else if (!call.payload) call.body = { groupname: `logged-${i}` };
      else call.payload = `${call.payload}&groupname=logged-${i}`;
      const reply = await t.call(call);
      assert.equal(reply.status, form.accepted ? 200 : 401, `${form.name}: ${JSON.stringify(reply.body)}`);
    }
    assert.deepEqual(log.containing(key), []);
  });

  it('after a # in the request line, which the router reads as the query (only a raw client sends one)', async () => {
    const port = await t.listen();
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(`GET /u/group/list#authkey=${key} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
      let text = '';
      socket.on('data', (chunk) => (text += chunk));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    assert.match(answer, /^HTTP\/1\.1 200 /);
    assert.deepEqual(log.containing(key), []);
  });

  it('on requests that fail with an unexpected 500 (run last: it breaks the schema)', async () => {
    await t.dataSource.query('DROP TABLE catalog_shares');
    const errorsBefore = log.at('error').length;
    for (const form of forms.filter((f) => f.accepted)) {
      const reply = await t.call(form.call('GET', '/c/list'));
      assert.equal(reply.status, 500, form.name);
    }
    // The failures are logged, with their URLs, and still without the key.
    const failures = log.at('error').slice(errorsBefore);
    assert.equal(failures.length, forms.filter((f) => f.accepted).length);
    for (const line of failures) assert.match(line, /GET \/c\/list(\?\S*)? failed: /);
    assert.ok(failures.some((line) => line.includes('/c/list?limit=5&authkey=[redacted]')), failures.join('\n'));
    assert.deepEqual(log.containing(key), []);
  });
});

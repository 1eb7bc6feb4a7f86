import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LogCapture } from '../support/log-capture';
import { TestApp } from '../support/test-app';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The id a request was logged under, and the one it was answered with. */
async function idsOf(t: TestApp, log: LogCapture, requestId: string, remoteAddress: string): Promise<{ logged: string; answered: string }> {
  const before = log.lines.length;
  const reply = await t.app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': requestId }, remoteAddress });
  const line = log.lines.slice(before).find((l) => l.text.includes('GET /health 200'));
  assert.ok(line, 'the request is logged');
  return { logged: /\[HTTP\] \[([^\]]*)\]/.exec(line.text)![1], answered: String(reply.headers['x-request-id']) };
}

describe('X-Request-Id is taken only from trusted proxies, and only when it looks like an id', () => {
  let log: LogCapture;
  after(() => log.stop());

  describe('VELOCITY_TRUST_PROXY unset', () => {
    let t: TestApp;
    before(async () => {
      t = await TestApp.start();
      log = LogCapture.start();
    });
    after(() => t.close());

    it("a client's id is ignored, even from loopback", async () => {
      const { logged, answered } = await idsOf(t, log, 'abc-123', '127.0.0.1');
      assert.match(logged, UUID);
      assert.equal(answered, logged);
    });
  });

  describe('VELOCITY_TRUST_PROXY=127.0.0.1', () => {
    let t: TestApp;
    before(async () => {
      t = await TestApp.start({ env: { VELOCITY_TRUST_PROXY: '127.0.0.1' } });
      log = LogCapture.start();
    });
    after(() => t.close());

    it("the proxy's id is logged and answered", async () => {
      const id = 'c0ffee00c0ffee00c0ffee00c0ffee00';
      assert.deepEqual(await idsOf(t, log, id, '127.0.0.1'), { logged: id, answered: id });
    });

    it('the same header from another address is ignored', async () => {
      const { logged } = await idsOf(t, log, 'abc-123', '10.0.0.9');
      assert.match(logged, UUID);
    });

    for (const [name, id] of [
      ['5 KB long', 'a'.repeat(5000)],
      ['a forged log line', 'x] GET /u/user 200 1.0ms [y'],
      ['non-ASCII', 'caf\u00e9'],
    ]) {
      it(`an id that is ${name} is replaced`, async () => {
        const { logged, answered } = await idsOf(t, log, id, '127.0.0.1');
        assert.match(logged, UUID);
        assert.equal(answered, logged);
      });
    }
  });
});

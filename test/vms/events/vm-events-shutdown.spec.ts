import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { json, SseClient } from '../../support/sse-client';
import { TestApp } from '../../support/test-app';

/** Closing the HTTP server waits for open responses: event streams must end first, and say why. */
describe('GET /v/events at shutdown', () => {
  it('an open stream ends with SERVICE_UNAVAILABLE and does not hold the server up', async () => {
    const t = await TestApp.start();
    const port = await t.listen();
    const stream = await SseClient.open(`http://127.0.0.1:${port}/v/events`, { authorization: `Bearer ${await t.loginRoot()}` });
    assert.equal(stream.status, 200);
    const began = performance.now();
    await t.close();
    assert.ok(performance.now() - began < 5000, `closing took ${(performance.now() - began).toFixed(0)} ms`);
    await stream.untilEnded(1000);
    assert.equal(json(stream.named('end')[0]).code, 'SERVICE_UNAVAILABLE');
  });
});

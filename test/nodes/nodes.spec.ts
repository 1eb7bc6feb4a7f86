import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestApp } from '../support/test-app';

describe('nodes', () => {
  let t: TestApp;
  let root: string;

  before(async () => {
    t = await TestApp.start({ env: { VELOCITY_NODE_NAME: 'node-a', VELOCITY_NODE_HEARTBEAT: '1' } });
    root = await t.loginRoot();
  });
  after(() => t.close());

  it('GET /nodes shows this server, online, with its capacity', async () => {
    const res = await t.call({ method: 'GET', url: '/nodes', token: root });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    console.log(JSON.stringify(res.body, null, 1));
  });
});

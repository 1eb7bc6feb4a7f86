import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { describe, it } from 'node:test';
import { TestApp } from '../support/test-app';

describe('restart on the same data directory', () => {
  it('keeps users, groups and valid keys', async () => {
    const first = await TestApp.start();
    const dataDir = first.config.dataDir;
    try {
      const root = await first.loginRoot();
      const alice = await first.createUser(root, 'alice');
      await first.close({ keepData: true });

      const second = await TestApp.start({ dataDir });
      try {
        const me = await second.call({ method: 'GET', url: '/u/user', token: alice.token });
        assert.equal(me.status, 200);
        assert.equal(me.body.uid, alice.uid);
        assert.equal((await second.call({ method: 'GET', url: '/u/user', token: root })).status, 200);
        // The first start's root user and special groups are not made twice.
        assert.equal(await second.count('users', 'username = ?', ['root']), 1);
        assert.equal(await second.count('groups', 'special IS NOT NULL'), 4);
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

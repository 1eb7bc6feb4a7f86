import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Logger as TypeOrmLogger } from 'typeorm';
import { AccessChanges } from '../../src/common/access-changes';
import { TestApp } from '../support/test-app';

/**
 * Resolving permissions must cost a fixed number of indexed queries, however many catalogs,
 * shares and groups exist, when the answer is not in memory (the first request after a
 * change), and none when it is: count the SQL statements with one catalog, then with 1,000
 * catalogs and 5,000 shares.
 */
describe('permission resolution cost', () => {
  let t: TestApp;
  let root: string;
  let user: { uid: string; token: string; personalGid: string };
  let catalogmanager: string;
  let probeCid: string;
  let statements: string[] = [];

  before(async () => {
    t = await TestApp.start();
    root = await t.loginRoot();
    catalogmanager = await t.specialGroupId(root, 'catalogmanager');
    user = await t.createUser(root, 'counter', [catalogmanager]);
    const made = await t.call({ method: 'PUT', url: '/c', token: user.token, body: { group: user.personalGid, label: 'probe' } });
    probeCid = made.body.cid;
    const logger = t.dataSource.logger;
    const counting: TypeOrmLogger = {
      logQuery: (query) => void statements.push(query),
      logQueryError: logger.logQueryError.bind(logger),
      logQuerySlow: logger.logQuerySlow.bind(logger),
      logSchemaBuild: logger.logSchemaBuild.bind(logger),
      logMigration: logger.logMigration.bind(logger),
      log: logger.log.bind(logger),
    };
    // The sqlite driver reports every statement to the DataSource's logger.
    Object.assign(t.dataSource, { logger: counting });
  });
  after(() => t.close());

  async function countQueries(run: () => Promise<unknown>): Promise<number> {
    statements = [];
    await run();
    return statements.length;
  }

  type Cost = { list: number; check: number; listAll: number };

  async function measure(): Promise<Cost & { coldKey: number; warm: Cost }> {
    // A key is resolved by one query the first time and then cached: count that separately,
    // with a fresh key (which also picks up memberships added since the last login).
    user.token = await t.login('counter', 'counter-password');
    const coldKey = (await countQueries(async () => {
      assert.equal((await t.call({ method: 'GET', url: '/c/list', token: user.token, query: { limit: '1' } })).status, 200);
    })) - 2;
    await t.call({ method: 'GET', url: '/u/user', token: root });
    const cost = async (): Promise<Cost> => ({
      list: await countQueries(async () => {
        const reply = await t.call({ method: 'GET', url: '/c/list', token: user.token, query: { limit: '50' } });
        assert.equal(reply.status, 200);
      }),
      check: await countQueries(async () => {
        const reply = await t.call({ method: 'GET', url: '/c/share', token: user.token, query: { cid: probeCid } });
        assert.equal(reply.status, 200);
      }),
      listAll: await countQueries(async () => {
        assert.equal((await t.call({ method: 'GET', url: '/c/list', token: root, query: { limit: '50' } })).status, 200);
      }),
    });
    // A change to the probe catalog: its facts and every list are read again once.
    t.app.get(AccessChanges).publish({ kind: 'catalog-changed', cid: probeCid });
    const cold = await cost();
    return { ...cold, coldKey, warm: await cost() };
  }

  it('GET /c/list and a permission check run the same fixed number of queries with 1 or 1,000 catalogs', async () => {
    const small = await measure();
    // 1,000 catalogs owned by 50 other groups, 20 more groups the user joins, 5,000 shares.
    const groups = Array.from({ length: 50 }, (_, i) => ({ gid: randomUUID(), name: `bulk-${i}` }));
    const userGroups = Array.from({ length: 20 }, (_, i) => ({ gid: randomUUID(), name: `mine-${i}` }));
    await t.dataSource.transaction(async (manager) => {
      for (const g of [...groups, ...userGroups]) {
        await manager.query('INSERT INTO groups (gid, groupname) VALUES (?, ?)', [g.gid, g.name]);
      }
      for (const g of userGroups) await manager.query('INSERT INTO memberships (uid, gid) VALUES (?, ?)', [user.uid, g.gid]);
      const cids: string[] = [];
      for (let i = 0; i < 1000; i++) {
        const cid = randomUUID();
        cids.push(cid);
        await manager.query('INSERT INTO catalogs (cid, label, gid) VALUES (?, ?, ?)', [cid, `bulk ${i}`, groups[i % groups.length].gid]);
      }
      // Five distinct groups per catalog: 5,000 shares, two in seven with the user's groups.
      const all = [...groups, ...userGroups];
      for (let i = 0; i < cids.length; i++) {
        for (let j = 0; j < 5; j++) {
          const g = all[(i + j * 10) % all.length];
          await manager.query(
            'INSERT INTO catalog_shares (cid, gid, manage, view, "create", "alter", remove, state, interact) VALUES (?, ?, 0, 1, 0, 0, 0, 1, 0)',
            [cids[i], g.gid],
          );
        }
      }
      return cids;
    }).then((cids) => {
      // Written behind the API's back, so said the way any writer says it.
      const changes = t.app.get(AccessChanges);
      changes.publish({ kind: 'memberships-changed' });
      for (const cid of cids) changes.publish({ kind: 'catalog-changed', cid });
    });
    assert.ok((await t.count('catalogs')) >= 1000);
    assert.equal(await t.count('catalog_shares'), 5000);

    const large = await measure();
    assert.deepEqual(large, small);
    // After a change — list: page + total; check (GET /c/share): the catalog and its shares,
    // which the handler's answer comes from too; a key not seen before costs one more query
    // (the first /c/list of coldKey is its page + total). Then everything from memory.
    assert.deepEqual(small, { list: 2, check: 2, listAll: 2, coldKey: 1, warm: { list: 0, check: 0, listAll: 0 } });

    const listed = await t.call({ method: 'GET', url: '/c/list', token: user.token, query: { limit: '1000' } });
    assert.ok(listed.body.total > 500, `the user sees the shared catalogs (${listed.body.total})`);
    assert.equal(listed.body.catalogs.length, Math.min(1000, listed.body.total));
  });
});

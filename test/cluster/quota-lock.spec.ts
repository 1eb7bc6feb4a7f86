import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { QueryRunner } from 'typeorm';
import { ApiError } from '../../src/common/errors/api-error';
import { AccessChanges } from '../../src/common/access-changes';
import { dataSourceOptions, VelocityDataSource } from '../../src/database/data-source-options';
import { UnitOfWork } from '../../src/database/unit-of-work';
import { GroupQuotasService } from '../../src/quotas/group-quotas.service';
import { freshPostgresDatabase, TestDatabase } from '../support/postgres';

/**
 * Two servers on one PostgreSQL database each check a group's quota inside their own
 * transaction. One process's queue of transactions cannot order them, so the count and the
 * write must be ordered by the database: the second check waits for the first transaction
 * and then counts its VM. Driven step by step with two connections, so the interleaving
 * that would break the limit happens every time.
 */
describe('quota checks across servers on PostgreSQL', () => {
  let database: TestDatabase;
  const servers: VelocityDataSource[] = [];
  const gid = randomUUID();
  const cid = randomUUID();

  before(async () => {
    database = await freshPostgresDatabase();
    for (let i = 0; i < 2; i++) {
      const dataSource = new VelocityDataSource(dataSourceOptions({ databasePath: '', databaseUrl: database.url }));
      await dataSource.initialize();
      servers.push(dataSource);
    }
    await servers[0].runMigrations();
    await servers[0].query(`INSERT INTO groups (gid, groupname) VALUES ($1, 'racers')`, [gid]);
    await servers[0].query(`INSERT INTO catalogs (cid, label, gid) VALUES ($1, 'race', $2)`, [cid, gid]);
    await servers[0].query(`INSERT INTO group_quotas (gid, vms) VALUES ($1, 1)`, [gid]);
  });

  after(async () => {
    await Promise.all(servers.map((s) => s.destroy()));
    await database?.drop();
  });

  async function begin(server: VelocityDataSource): Promise<QueryRunner> {
    const runner = server.createQueryRunner();
    await runner.connect();
    await runner.startTransaction();
    return runner;
  }

  function insertVm(runner: QueryRunner, name: string): Promise<unknown> {
    return runner.query(
      `INSERT INTO vms (vmid, cid, name, type, cpu_count, memory_size_mb, displays, rosetta, autostart) VALUES ($1, $2, $3, 'EFI', 1, 256, '[]', false, false)`,
      [randomUUID(), cid, name],
    );
  }

  it('the second server counts the first one\'s VM once it committed, and refuses the one past the limit', async () => {
    const quotas = servers.map((s) => new GroupQuotasService(s, new UnitOfWork(s), new AccessChanges()));
    const first = await begin(servers[0]);
    const second = await begin(servers[1]);
    try {
      await quotas[0].assertRoom(first.manager, gid, { vms: 1 });
      await insertVm(first, 'first');

      let settled = false;
      const secondCheck = quotas[1].assertRoom(second.manager, gid, { vms: 1 }).finally(() => (settled = true));
      secondCheck.catch(() => undefined);
      await delay(300);
      assert.equal(settled, false, 'the second check waits while the first transaction holds the group');

      await first.commitTransaction();
      await assert.rejects(secondCheck, (error: unknown) => error instanceof ApiError && error.code === 'QUOTA_EXCEEDED');
      await second.rollbackTransaction();
      const [{ count }] = await servers[0].query('SELECT COUNT(*)::int AS count FROM vms WHERE cid = $1', [cid]);
      assert.equal(count, 1);
    } finally {
      for (const runner of [first, second]) {
        if (runner.isTransactionActive) await runner.rollbackTransaction();
        await runner.release();
      }
    }
  });
});

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AuditRetention } from '../../src/audit/audit-retention';
import { AuditTrail } from '../../src/audit/audit-trail';
import { loadConfig } from '../../src/config/app-config';
import { rawUpgrade } from '../support/raw-upgrade';
import { Call, Reply, ROOT_PASSWORD, TestApp } from '../support/test-app';
import { createDisk, createEfiVm, makeVmWorld, setState, uploadIso } from '../support/vm-fixture';
import { eventually } from '../support/wait';

/** The committed OpenAPI document: what each record's operation must be. */
const DOCUMENT = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'openapi', 'velocity.json'), 'utf8'));
const CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface AuditRecord {
  id: number;
  at: string;
  uid: string | null;
  username: string | null;
  token_id: string | null;
  address: string | null;
  operation: string | null;
  method: string;
  path: string;
  targets: string[];
  status: number;
  error_code: string | null;
  request_id: string;
}

interface Sent {
  call: Call;
  reply: Reply;
}

/** Every audit record, oldest first, through GET /audit as root. */
async function allRecords(t: TestApp, root: string): Promise<AuditRecord[]> {
  const records: AuditRecord[] = [];
  for (let offset = 0; ; offset += 1000) {
    const page = await t.call({ method: 'GET', url: '/audit', token: root, query: { limit: '1000', offset: String(offset) } });
    assert.equal(page.status, 200, JSON.stringify(page.body));
    records.push(...page.body.records);
    if (records.length >= page.body.total) return records.reverse();
  }
}

/** The ids (UUIDs) among the top-level fields and id lists of a body or reply. */
function idsIn(carrier: unknown): string[] {
  if (typeof carrier !== 'object' || carrier === null) return [];
  return Object.values(carrier as Record<string, unknown>)
    .flatMap((value) => (Array.isArray(value) ? value : [value]))
    .filter((value): value is string => typeof value === 'string' && UUID.test(value));
}

describe('audit log', () => {
  let t: TestApp;
  let root: string;
  let rootUid: string;
  /** Every request the tests send, with its answer. */
  const sent: Sent[] = [];

  before(async () => {
    t = await TestApp.start();
    const call = t.call.bind(t);
    t.call = async (request: Call) => {
      const reply = await call(request);
      sent.push({ call: request, reply });
      return reply;
    };
    root = await t.loginRoot();
    rootUid = (await t.call({ method: 'GET', url: '/u/user', token: root })).body.uid;
  });
  after(() => t.close());

  it('holds a record for every request of the main flow that changes something, with who, what and outcome', async () => {
    const from = sent.length;
    const catalogmanager = await t.specialGroupId(root, 'catalogmanager');
    const team = await t.createGroup(root, 'audit-team');
    const other = await t.createGroup(root, 'audit-other');
    const owner = await t.createUser(root, 'audit-owner', [team, catalogmanager]);
    const helper = await t.createUser(root, 'audit-helper', [other]);
    const catalog = await t.call({ method: 'PUT', url: '/c', token: owner.token, body: { group: team, label: 'audited' } });
    const cid = catalog.body.cid;
    await t.call({ method: 'POST', url: '/c/share', token: owner.token, body: { cid, gid: other, view: true, state: true } });
    const disk = await createDisk(t, owner.token, team, 'audit-disk');
    const iso = await uploadIso(t, owner.token, team, 'audit-iso');
    const created = await t.call({
      method: 'PUT',
      url: '/v/efi',
      token: owner.token,
      body: { name: 'audited-vm', catalog: cid, cpu_count: 1, memory_size_mb: 256, storage_devices: [disk, iso.stid] },
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const vmid = created.body.vmid;
    // Failures are recorded with their code: a taken name, a state not reachable.
    assert.equal((await t.call({ method: 'PUT', url: '/v/efi', token: owner.token, body: { name: 'audited-vm', catalog: cid, cpu_count: 1, memory_size_mb: 256 } })).status, 409);
    assert.equal((await setState(t, owner.token, vmid, 'PAUSED')).status, 403);
    assert.equal((await setState(t, helper.token, vmid, 'RUNNING')).status, 200);
    assert.equal((await setState(t, helper.token, vmid, 'RUNNING')).status, 208);
    assert.equal((await setState(t, owner.token, vmid, 'STOPPED', true)).status, 200);
    assert.equal((await t.call({ method: 'PATCH', url: '/v', token: owner.token, body: { vmid, cpu_count: 2 } })).status, 200);
    assert.equal((await t.call({ method: 'DELETE', url: '/v', token: owner.token, body: { vmid } })).status, 200);
    assert.equal((await t.call({ method: 'DELETE', url: '/c/share', token: owner.token, body: { cid, gid: other } })).status, 200);
    assert.equal((await t.call({ method: 'DELETE', url: '/r/storage', token: owner.token, body: { stid: disk } })).status, 200);
    assert.equal((await t.call({ method: 'DELETE', url: '/c', token: owner.token, body: { cid } })).status, 200);
    assert.equal((await t.call({ method: 'PATCH', url: '/u/auth', token: helper.token })).status, 200);
    assert.equal((await t.call({ method: 'DELETE', url: '/u/user', token: root, body: { uid: helper.uid } })).status, 200);
    assert.equal((await t.call({ method: 'DELETE', url: '/u/group', token: root, body: { gid: other } })).status, 200);
    assert.equal((await t.call({ method: 'DELETE', url: '/u/auth', token: owner.token })).status, 200);

    const uidOf = new Map<string | undefined, string>([[root, rootUid], [owner.token, owner.uid], [helper.token, helper.uid]]);
    const records = new Map((await allRecords(t, root)).map((r) => [r.request_id, r]));
    const changes = sent.slice(from).filter(({ call }) => CHANGING.has(call.method));
    assert.ok(changes.length >= 25, `the flow sent ${changes.length} changing requests`);
    for (const { call, reply } of changes) {
      const what = `${call.method} ${call.url} → ${reply.status}`;
      const record = records.get(String(reply.headers['x-request-id']));
      assert.ok(record, `a record of ${what}`);
      assert.equal(record.operation, DOCUMENT.paths[call.url][call.method.toLowerCase()].operationId, what);
      assert.deepEqual([record.method, record.path, record.status], [call.method, call.url, reply.status], what);
      assert.equal(record.error_code, reply.status >= 400 ? reply.body.code : null, what);
      if (call.url === '/u/auth' && call.method === 'POST') {
        assert.deepEqual([record.uid, record.username], [null, (call.body as { username: string }).username], what);
      } else if (call.token && uidOf.has(call.token) && !(call.url === '/u/auth')) {
        assert.equal(record.uid, uidOf.get(call.token), what);
      }
      assert.equal(record.address, '127.0.0.1', what);
      const named = [...idsIn(call.body), ...idsIn(call.query), ...(reply.status < 300 ? idsIn(reply.body) : [])];
      for (const id of named) assert.ok(record.targets.includes(id), `${what}: target ${id} in ${JSON.stringify(record.targets)}`);
      assert.ok(!record.path.includes('?'), what);
    }
    const createdRecord = records.get(String(created.headers['x-request-id']))!;
    assert.ok(createdRecord.targets.includes(vmid), 'the created vmid is a target');
    assert.equal(records.get(String(catalog.headers['x-request-id']))!.username, 'audit-owner');
  });

  it('records refused requests: no key, a missing permission, a catalog not visible; not successful reads', async () => {
    const plain = await t.createUser(root, 'audit-plain');
    const stranger = await t.createUser(root, 'audit-stranger');
    const catalogmanager = await t.specialGroupId(root, 'catalogmanager');
    const keeper = await t.createUser(root, 'audit-keeper', [catalogmanager]);
    const hidden = (await t.call({ method: 'PUT', url: '/c', token: keeper.token, body: { group: keeper.personalGid, label: 'hidden' } })).body.cid;

    const noKey = await t.call({ method: 'GET', url: '/v/list', query: { cid: hidden } });
    const denied = await t.call({ method: 'GET', url: '/u/user/list', token: plain.token });
    const invisible = await t.call({ method: 'GET', url: '/v/list', token: stranger.token, query: { cid: hidden } });
    const read = await t.call({ method: 'GET', url: '/v/list', token: keeper.token, query: { cid: hidden } });
    const unknownStorage = await t.call({ method: 'GET', url: '/r/storage', token: plain.token, query: { stid: '00000000-0000-4000-8000-000000000000' } });
    assert.deepEqual([noKey.status, denied.status, invisible.status, read.status, unknownStorage.status], [401, 401, 404, 200, 404]);

    const records = new Map((await allRecords(t, root)).map((r) => [r.request_id, r]));
    const recordOf = (reply: Reply) => records.get(String(reply.headers['x-request-id']));
    assert.deepEqual(
      pick(recordOf(noKey)),
      { uid: null, operation: 'listVms', method: 'GET', path: '/v/list', status: 401, error_code: 'AUTH_REQUIRED', targets: [hidden] },
    );
    assert.deepEqual(
      pick(recordOf(denied)),
      { uid: plain.uid, operation: 'listUsers', method: 'GET', path: '/u/user/list', status: 401, error_code: 'PERMISSION_DENIED', targets: [] },
    );
    assert.deepEqual(
      pick(recordOf(invisible)),
      { uid: stranger.uid, operation: 'listVms', method: 'GET', path: '/v/list', status: 404, error_code: 'CATALOG_NOT_FOUND', targets: [hidden] },
    );
    assert.equal(recordOf(read), undefined, 'a successful read is not recorded');
    assert.equal(recordOf(unknownStorage), undefined, 'a 404 that is not the catalog-permission check is not recorded');
  });

  it('records failed logins with the username tried, and refused WebSocket upgrades', async () => {
    const failed = await t.call({ method: 'POST', url: '/u/auth', body: { username: 'root', password: 'not-the-password' } });
    const nobody = await t.call({ method: 'POST', url: '/u/auth', body: { username: 'nobody-here', password: 'whatever-it-is' } });
    assert.deepEqual([failed.status, nobody.status], [403, 403]);
    const records = new Map((await allRecords(t, root)).map((r) => [r.request_id, r]));
    for (const [reply, username] of [[failed, 'root'], [nobody, 'nobody-here']] as const) {
      const record = records.get(String(reply.headers['x-request-id']));
      assert.deepEqual(pick(record), { uid: null, operation: 'login', method: 'POST', path: '/u/auth', status: 403, error_code: 'INVALID_CREDENTIALS', targets: [] });
      assert.equal(record!.username, username);
    }

    const port = await t.listen();
    const vmid = '11111111-2222-4333-8444-555555555555';
    const answer = await rawUpgrade(port, `/v/console/stream?vmid=${vmid}&authkey=not-a-key`);
    assert.equal(answer.status, 401);
    await eventually(async () => (await allRecords(t, root)).some((r) => r.path === '/v/console/stream'), 'the refused upgrade recorded');
    const upgrade = (await allRecords(t, root)).find((r) => r.path === '/v/console/stream')!;
    assert.deepEqual(pick(upgrade), { uid: null, operation: null, method: 'GET', path: '/v/console/stream', status: 401, error_code: 'AUTH_REQUIRED', targets: [vmid] });
    assert.equal(upgrade.address, '127.0.0.1');
  });

  it('records the connection\'s address, not an X-Forwarded-For from a proxy it does not trust', async () => {
    const reply = await t.call({ method: 'PUT', url: '/u/group', token: root, headers: { 'x-forwarded-for': '203.0.113.7' }, body: { groupname: 'untrusted-hop' } });
    const records = await allRecords(t, root);
    assert.equal(records.find((r) => r.request_id === reply.headers['x-request-id'])?.address, '127.0.0.1');
  });

  it('holds no secret: no password or authkey in any record nor anywhere in the database files', async () => {
    // Keys travel in every carrier the server accepts: the Bearer header, the body, the query.
    const viaBody = await t.login('root', ROOT_PASSWORD);
    const viaQuery = await t.login('root', ROOT_PASSWORD);
    assert.equal((await t.call({ method: 'PUT', url: '/u/group', body: { groupname: 'secret-body', authkey: viaBody } })).status, 200);
    assert.equal((await t.call({ method: 'PUT', url: '/u/group', query: { authkey: viaQuery }, body: { groupname: 'secret-query' } })).status, 200);
    assert.equal((await t.call({ method: 'PUT', url: '/u/user', token: root, body: { username: 'secret-user', password: 'a-very-secret-password' } })).status, 200);
    assert.equal((await t.call({ method: 'GET', url: '/v/list', query: { cid: '00000000-0000-4000-8000-000000000000', authkey: 'refused-key-value-1234567890' } })).status, 401);
    await allRecords(t, root); // written
    const passwords = [ROOT_PASSWORD, 'not-the-password', 'a-very-secret-password', 'audit-owner-password', 'whatever-it-is'];
    const keys = [root, viaBody, viaQuery, 'refused-key-value-1234567890', 'not-a-key', ...sent.map((s) => s.reply.body?.authkey).filter(Boolean)];
    const table = JSON.stringify(await t.dataSource.query('SELECT * FROM audit_log')) + JSON.stringify(await t.dataSource.query('SELECT * FROM audit_targets'));
    assert.ok(table.includes('secret-body') === false && table.includes('/u/group'), 'the table holds paths, not bodies');
    await t.dataSource.query('PRAGMA wal_checkpoint(FULL)');
    const files = readdirSync(t.config.dataDir).filter((f) => f.startsWith('velocity.sqlite'));
    const bytes = Buffer.concat(files.map((f) => readFileSync(join(t.config.dataDir, f))));
    for (const secret of [...passwords, ...keys]) {
      assert.ok(!table.includes(secret), `the audit table holds ${secret}`);
      assert.equal(bytes.indexOf(secret), -1, `the database files hold ${secret}`);
    }
  });

  it('names the API token a request came with by its id, never its secret', async () => {
    const token = await t.createApiToken(root, { name: 'audit-ci' });
    const changed = await t.call({ method: 'PUT', url: '/u/group', token: token.secret, body: { groupname: 'by-token' } });
    assert.equal(changed.status, 401, 'a token may not change identities');
    const refusal = (await allRecords(t, root)).find((r) => r.request_id === changed.headers['x-request-id']);
    assert.deepEqual([refusal?.uid, refusal?.token_id, refusal?.status], [rootUid, token.id, 401]);
    const catalogmanager = await t.specialGroupId(root, 'catalogmanager');
    const made = await t.call({ method: 'PUT', url: '/c', token: token.secret, body: { group: catalogmanager, label: 'by token' } });
    assert.equal(made.status, 200, JSON.stringify(made.body));
    const record = (await allRecords(t, root)).find((r) => r.request_id === made.headers['x-request-id']);
    assert.deepEqual([record?.token_id, record?.status, record?.operation], [token.id, 200, 'createCatalog']);
    const table = JSON.stringify(await t.dataSource.query('SELECT * FROM audit_log'));
    assert.ok(!table.includes(token.secret), 'the secret is in no record');
  });

  it('writes the record in the transaction of the change: when the record cannot be written, the change is not made either', async () => {
    // Refuses the record written inside the transaction (with the predicted 200), not the one written after it.
    await t.dataSource.query(
      `CREATE TEMP TRIGGER refuse_audit BEFORE INSERT ON audit_log WHEN NEW.operation = 'createGroup' AND NEW.status = 200 BEGIN SELECT RAISE(ABORT, 'injected failure'); END`,
    );
    try {
      const reply = await t.call({ method: 'PUT', url: '/u/group', token: root, body: { groupname: 'never-made' } });
      assert.equal(reply.status, 500);
      assert.equal(await t.count('groups', 'groupname = ?', ['never-made']), 0, 'the change rolled back with its record');
      const record = (await allRecords(t, root)).find((r) => r.request_id === reply.headers['x-request-id']);
      assert.deepEqual([record?.status, record?.error_code], [500, 'INTERNAL_ERROR'], 'the failure has its record');
    } finally {
      await t.dataSource.query('DROP TRIGGER refuse_audit');
    }
    // And a committed change has its record as soon as it is acknowledged, before any write after the answer.
    const made = await t.call({ method: 'PUT', url: '/u/group', token: root, body: { groupname: 'made' } });
    const rows = await t.dataSource.query('SELECT status FROM audit_log WHERE request_id = ?', [made.headers['x-request-id']]);
    assert.deepEqual(rows, [{ status: 200 }]);
  });

  it('state changes recorded together in one batch commit each request\'s record with them, none after the answer', async () => {
    const w = await makeVmWorld(t, 'audit-batch');
    const vmids = await Promise.all(Array.from({ length: 12 }, (_, i) => createEfiVm(t, w.owner.token, { name: `batch-${i}`, catalog: w.cid })));
    // What the trail writes after an answer: a record no transaction carried.
    const trail = t.app.get(AuditTrail);
    const writtenLate: string[] = [];
    const enqueue = trail.enqueue.bind(trail);
    trail.enqueue = (entry) => {
      writtenLate.push(entry.requestId);
      enqueue(entry);
    };
    try {
      const replies = await Promise.all(vmids.map((vmid) => setState(t, w.owner.token, vmid, 'RUNNING')));
      assert.deepEqual(replies.map((r) => r.status), vmids.map(() => 200));
      const ids = replies.map((r) => r.headers['x-request-id'] as string);
      assert.deepEqual(writtenLate.filter((id) => ids.includes(id)), [], 'every record was written in the transaction of its change');
      const records = new Map((await allRecords(t, root)).map((r) => [r.request_id, r]));
      // Written together, each record still has its own targets: the VM its request named.
      assert.deepEqual(
        ids.map((id) => [records.get(id)?.operation, records.get(id)?.status, records.get(id)?.targets]),
        vmids.map((vmid) => ['requestVmState', 200, [vmid]]),
      );
    } finally {
      trail.enqueue = enqueue;
    }
  });

  it('a creation commits its record already naming the id it creates: no correction is written after the answer', async () => {
    const w = await makeVmWorld(t, 'audit-create');
    const trail = t.app.get(AuditTrail);
    const corrected: number[] = [];
    const enqueueCorrection = trail.enqueueCorrection.bind(trail);
    trail.enqueueCorrection = (id, outcome, addedTargets) => {
      corrected.push(id);
      enqueueCorrection(id, outcome, addedTargets);
    };
    try {
      const vm = await t.call({ method: 'PUT', url: '/v/efi', token: w.owner.token, body: { name: 'audit-created', catalog: w.cid, cpu_count: 1, memory_size_mb: 512 } });
      const catalog = await t.call({ method: 'PUT', url: '/c', token: w.owner.token, body: { group: w.gid, label: 'audit-created' } });
      assert.deepEqual([vm.status, catalog.status], [200, 200]);
      assert.deepEqual(corrected, [], 'nothing was corrected after the answers');
      // Read at once, before anything written after the answers could land.
      const targetsOf = async (reply: Reply) =>
        (await t.dataSource.query('SELECT t.target FROM audit_log l JOIN audit_targets t ON t.record_id = l.id WHERE l.request_id = ?', [reply.headers['x-request-id']])).map((r: { target: string }) => r.target).sort();
      assert.deepEqual(await targetsOf(vm), [vm.body.vmid, w.cid].sort());
      assert.deepEqual(await targetsOf(catalog), [catalog.body.cid, w.gid].sort());
    } finally {
      trail.enqueueCorrection = enqueueCorrection;
    }
  });

  it('a creation that fails names no id it did not create', async () => {
    const w = await makeVmWorld(t, 'audit-create-failed');
    const holder = await t.call({ method: 'PUT', url: '/v/efi', token: w.owner.token, body: { name: 'taken', catalog: w.cid, cpu_count: 1, memory_size_mb: 512 } });
    const refused = await t.call({ method: 'PUT', url: '/v/efi', token: w.owner.token, body: { name: 'taken', catalog: w.cid, cpu_count: 1, memory_size_mb: 512 } });
    assert.equal(refused.status, 409);
    await t.app.get(AuditTrail).drain();
    const record = (await allRecords(t, root)).find((r) => r.request_id === refused.headers['x-request-id']);
    // The catalog it named and the VM holding the name (which the error names), not the id it would have had.
    assert.deepEqual([record?.status, record?.error_code, record?.targets.sort()], [409, 'VM_NAME_TAKEN', [w.cid, holder.body.vmid].sort()]);
  });

  it('GET /audit filters by user, target and time, and pages', async () => {
    const user = await t.createUser(root, 'audit-filtered');
    const gid = await t.createGroup(root, 'audit-target');
    const start = new Date(t.clock.nowMillis()).toISOString();
    t.clock.advance(600);
    await t.call({ method: 'PUT', url: '/u/group/assign', token: root, body: { uid: user.uid, groups: [gid] } });
    await t.call({ method: 'DELETE', url: '/u/group/assign', token: root, body: { uid: user.uid, groups: [gid] } });
    await t.call({ method: 'GET', url: '/u/user/list', token: user.token });
    const list = (query: Record<string, string>) => t.call({ method: 'GET', url: '/audit', token: root, query });

    const byUser = await list({ user: user.uid });
    assert.equal(byUser.status, 200);
    assert.ok(byUser.body.records.every((r: AuditRecord) => r.uid === user.uid));
    assert.deepEqual(byUser.body.records.map((r: AuditRecord) => r.operation), ['listUsers']);

    const byTarget = await list({ target: gid });
    assert.deepEqual(byTarget.body.records.map((r: AuditRecord) => r.operation), ['revokeGroups', 'assignGroups', 'createGroup']);
    assert.ok(byTarget.body.records.every((r: AuditRecord) => r.targets.includes(gid)));
    assert.equal(byTarget.body.total, 3);

    const later = new Date(Date.parse(start) + 300_000).toISOString();
    const recent = await list({ from: later });
    assert.deepEqual(recent.body.records.map((r: AuditRecord) => r.operation), ['listUsers', 'revokeGroups', 'assignGroups']);
    const earlier = await list({ to: later, target: gid });
    assert.deepEqual(earlier.body.records.map((r: AuditRecord) => r.operation), ['createGroup']);

    const everything = await list({ limit: '1000' });
    const first = await list({ limit: '2' });
    const second = await list({ limit: '2', offset: '2' });
    assert.deepEqual([first.body.limit, first.body.offset, first.body.total], [2, 0, everything.body.total]);
    assert.deepEqual([...first.body.records, ...second.body.records].map((r: AuditRecord) => r.id), everything.body.records.slice(0, 4).map((r: AuditRecord) => r.id));
    assert.ok(everything.body.records.every((r: AuditRecord, i: number, all: AuditRecord[]) => i === 0 || all[i - 1].id > r.id), 'newest first');

    const bad: Array<Record<string, string>> = [{ from: 'yesterday' }, { user: 'root' }, { to: '2026-13-45T00:00:00Z' }, { limit: '0' }];
    for (const query of bad) {
      const reply = await list(query);
      assert.deepEqual([reply.status, reply.body.code], [400, 'VALIDATION_FAILED'], JSON.stringify(query));
    }
  });

  it('GET /audit is root\'s alone', async () => {
    const plain = await t.createUser(root, 'audit-nosy');
    const usermanager = await t.createUser(root, 'audit-um', [await t.specialGroupId(root, 'usermanager')]);
    assert.equal((await t.call({ method: 'GET', url: '/audit' })).body.code, 'AUTH_REQUIRED');
    assert.equal((await t.call({ method: 'GET', url: '/audit', token: plain.token })).body.code, 'PERMISSION_DENIED');
    assert.equal((await t.call({ method: 'GET', url: '/audit', token: usermanager.token })).body.code, 'PERMISSION_DENIED');
    t.clock.advance(t.config.authkeyTtlSeconds + 1);
    try {
      assert.equal((await t.call({ method: 'GET', url: '/audit', token: root })).status, 401);
    } finally {
      t.clock.advance(-(t.config.authkeyTtlSeconds + 1));
    }
  });

  it('deletes records past the retention period, periodically and at start', async () => {
    await allRecords(t, root);
    const old = await t.count('audit_log');
    assert.ok(old > 0);
    // Just past the retention period of the newest record so far.
    const [{ newest }] = await t.dataSource.query('SELECT MAX(at) AS newest FROM audit_log');
    t.clock.advance((newest + t.config.auditRetentionDays * 86_400_000 + 60_000 - t.clock.nowMillis()) / 1000);
    root = await t.loginRoot();
    await allRecords(t, root);
    const recent = await t.count('audit_log', 'at > ?', [newest]);
    assert.ok(recent >= 1);
    assert.equal(await t.app.get(AuditRetention).sweep(), old, 'the old records went');
    assert.equal(await t.count('audit_log'), recent, 'the recent ones stayed');
    assert.equal(await t.count('audit_targets', 'record_id NOT IN (SELECT id FROM audit_log)'), 0, 'their targets went with them');

    // At start: a server started later deletes what aged meanwhile.
    const dataDir = t.config.dataDir;
    await t.dataSource.query(`INSERT INTO audit_log (at, method, path, status, request_id) VALUES (?, 'PUT', '/old', 200, 'old')`, [Date.now() - 91 * 86_400_000]);
    await t.close({ keepData: true });
    t = await TestApp.start({ dataDir });
    assert.equal(await t.count('audit_log', "request_id = 'old'"), 0);
    await t.close({ keepData: true });
    t = await TestApp.start({ dataDir, env: { VELOCITY_AUDIT_RETENTION_DAYS: '0' } });
    await t.dataSource.query(`INSERT INTO audit_log (at, method, path, status, request_id) VALUES (0, 'PUT', '/ancient', 200, 'ancient')`);
    assert.equal(await t.app.get(AuditRetention).sweep(), 0, '0 keeps records forever');
    assert.equal(await t.count('audit_log', "request_id = 'ancient'"), 1);
  });

  it('takes VELOCITY_AUDIT_RETENTION_DAYS from 0 (forever) to 36500, default 90', () => {
    assert.equal(loadConfig({}).auditRetentionDays, 90);
    assert.equal(loadConfig({ VELOCITY_AUDIT_RETENTION_DAYS: '0' }).auditRetentionDays, 0);
    assert.throws(() => loadConfig({ VELOCITY_AUDIT_RETENTION_DAYS: '-1' }), /VELOCITY_AUDIT_RETENTION_DAYS/);
    assert.throws(() => loadConfig({ VELOCITY_AUDIT_RETENTION_DAYS: '36501' }), /VELOCITY_AUDIT_RETENTION_DAYS/);
  });
});

// Apart from the suite above: two servers in one process share passport's strategies.
describe('audit log behind a trusted proxy', () => {
  it('records the forwarded client address', async () => {
    const t = await TestApp.start({ env: { VELOCITY_TRUST_PROXY: '127.0.0.1' } });
    try {
      const root = await t.loginRoot();
      const reply = await t.call({ method: 'PUT', url: '/u/group', token: root, headers: { 'x-forwarded-for': '203.0.113.7' }, body: { groupname: 'trusted-hop' } });
      const records = await allRecords(t, root);
      assert.equal(records.find((r) => r.request_id === reply.headers['x-request-id'])?.address, '203.0.113.7');
    } finally {
      await t.close();
    }
  });
});

/** The fields of a record that do not change from run to run. */
function pick(record: AuditRecord | undefined) {
  assert.ok(record, 'a record');
  const { uid, operation, method, path, status, error_code, targets } = record;
  return { uid, operation, method, path, status, error_code, targets };
}

import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { VmEventStreams } from '../../src/vms/events/vm-event-streams.service';
import { ScratchDir } from '../support/scratch-dir';
import { freePort } from '../support/server-process';
import { ROOT_PASSWORD, TestApp } from '../support/test-app';
import { velocity, velocityJson } from '../support/velocity-cli';
import { sleep } from '../support/wait';

const NO_VM = '00000000-0000-4000-8000-000000000000';

/** The `velocity` binary in a child process against a real listening server. */
describe('the velocity command-line tool', () => {
  let t: TestApp;
  let scratch: ScratchDir;
  let env: Record<string, string>;
  let configFile: string;

  before(async () => {
    t = await TestApp.start();
    scratch = new ScratchDir('velocity-cli-');
    configFile = join(scratch.path, 'config', 'velocity', 'config.json');
    // The XDG default location, with a trailing slash on the URL that the CLI must not mind.
    env = { XDG_CONFIG_HOME: join(scratch.path, 'config'), VELOCITY_URL: `http://127.0.0.1:${await t.listen()}/` };
  });
  after(async () => {
    await t.close();
    scratch.cleanup();
  });

  it('logs in with the password on stdin and keeps the authkey in a file only its owner can read', async () => {
    const wrong = await velocity(['login', '-u', 'root', '--password-stdin'], { env, input: 'not-the-password\n' });
    assert.equal(wrong.code, 2, wrong.stderr);
    assert.match(wrong.stderr, /INVALID_CREDENTIALS: .+\(HTTP 403\)/);

    const login = await velocity(['login', '-u', 'root', '--password-stdin'], { env, input: `${ROOT_PASSWORD}\n` });
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, /logged in to http:\/\/127\.0\.0\.1:\d+ as root/);
    assert.equal(statSync(configFile).mode & 0o777, 0o600);
    const config = JSON.parse(readFileSync(configFile, 'utf8'));
    const kept = config.logins[config.url];
    assert.equal(kept.username, 'root');
    assert.equal((await t.call({ method: 'GET', url: '/u/user', token: kept.authkey })).body.username, 'root', 'the kept authkey is live');
  });

  it('creates a catalog and a VM, starts it, reads its console, stops and deletes it', async () => {
    const created = await velocity(['catalog', 'create', '--group', 'root', '--label', 'cli catalog'], { env });
    assert.equal(created.code, 0, created.stderr);
    const catalogs = await velocityJson<Array<{ cid: string; label: string; groupname: string }>>(['catalog', 'list'], env);
    const catalog = catalogs.find((c) => c.label === 'cli catalog');
    assert.ok(catalog);
    assert.equal(catalog.groupname, 'root');
    const table = await velocity(['catalog', 'list'], { env });
    assert.match(table.stdout, /^CID\s+LABEL\s+GROUP\s+PERMISSIONS\n.*cli catalog\s+root\s+view,create/s);

    const { vmid } = await velocityJson<{ vmid: string }>(['vm', 'create', '-c', catalog.cid, '-n', 'cli-vm', '--cpus', '2', '--memory', '256', '--display', '1024x768'], env);
    const shown = await velocityJson(['vm', 'show', vmid], env);
    assert.deepEqual([shown.name, shown.cpu_count, shown.state, shown.displays[0].width], ['cli-vm', 2, 'STOPPED', 1024]);

    const start = await velocity(['vm', 'start', vmid], { env });
    assert.deepEqual([start.code, start.stdout], [0, `VM ${vmid} is RUNNING\n`]);
    const again = await velocity(['vm', 'start', vmid], { env });
    assert.deepEqual([again.code, again.stdout], [0, `VM ${vmid} already is RUNNING\n`], '208 is success');
    assert.deepEqual(await velocityJson(['vm', 'state', vmid], env), { vmid, state: 'RUNNING' });
    const listed = await velocityJson<Array<{ vmid: string; state: string }>>(['vm', 'list'], env);
    assert.deepEqual(listed.map((vm) => [vm.vmid, vm.state]), [[vmid, 'RUNNING']]);

    let console = '';
    for (const deadline = Date.now() + 5000; !console.includes('login:') && Date.now() < deadline; await sleep(100)) {
      console = (await velocity(['vm', 'console', vmid], { env })).stdout;
    }
    assert.match(console, /Booting cli-vm[\s\S]*login:/);
    const sent = await velocity(['vm', 'console', vmid, '--send', 'root\n'], { env });
    assert.equal(sent.code, 0, sent.stderr);

    const running = await velocity(['vm', 'delete', vmid], { env });
    assert.equal(running.code, 4, 'a running VM is a conflict');
    assert.match(running.stderr, /^error: VM_NOT_STOPPED: .+ \(HTTP 409\)$/m);

    const stop = await velocity(['vm', 'stop', vmid], { env });
    assert.deepEqual([stop.code, stop.stdout], [0, `VM ${vmid} is STOPPED\n`]);
    const resume = await velocity(['vm', 'resume', vmid], { env });
    assert.equal(resume.code, 4, 'resume does not boot a stopped VM');
    assert.deepEqual(await velocityJson(['vm', 'delete', vmid], env), { vmid });
    assert.equal(await t.count('vms', 'vmid = ?', [vmid]), 0);
  });

  it('exits with a code that says what happened and prints the server\'s code and message', async () => {
    const missing = await velocity(['vm', 'show', NO_VM], { env });
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /^error: VM_NOT_FOUND: .+ \(HTTP 404\)\n$/);
    assert.equal(missing.stdout, '');

    const asJson = await velocity(['--json', 'vm', 'show', 'not-a-uuid'], { env });
    assert.equal(asJson.code, 6);
    const error = JSON.parse(asJson.stderr);
    assert.deepEqual([error.code, error.status, error.exit], ['VALIDATION_FAILED', 400, 6]);
    assert.match(error.message, /vmid/);

    const usage = await velocity(['vm', 'create', '--cpus', 'two'], { env });
    assert.equal(usage.code, 1);
    const unknown = await velocity(['vm', 'frobnicate'], { env });
    assert.equal(unknown.code, 1);

    const elsewhere = await velocity(['catalog', 'list'], { env: { ...env, VELOCITY_CONFIG: join(scratch.path, 'nobody.json') } });
    assert.equal(elsewhere.code, 2, 'not logged in');
    assert.match(elsewhere.stderr, /not logged in to .+velocity login/);

    const down = await velocity(['--url', `http://127.0.0.1:${await freePort()}`, 'login', '-u', 'root'], { env, input: 'x' });
    assert.equal(down.code, 7);
    assert.match(down.stderr, /cannot reach the server at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
  });

  it('uploads an image with a progress bar, lists, clones and deletes storage', async () => {
    const image = scratch.file('disk.raw');
    writeFileSync(image, Buffer.alloc(3 * 1024 * 1024, 1));
    const upload = await velocity(['storage', 'upload', image, '--group', 'root', '--name', 'cli-disk', '--progress'], { env });
    assert.equal(upload.code, 0, upload.stderr);
    assert.match(upload.stderr, /100% \| 3145728\/3145728 bytes/);
    const stid = /: ([0-9a-f-]{36})$/m.exec(upload.stdout)?.[1];
    assert.ok(stid, upload.stdout);
    const listed = await velocityJson<Array<{ stid: string; size_bytes: number; name: string }>>(['storage', 'list'], env);
    assert.deepEqual(listed.find((s) => s.stid === stid), { ...listed.find((s) => s.stid === stid), name: 'cli-disk', size_bytes: 3 * 1024 * 1024 });
    const copy = await velocityJson<{ stid: string; name: string }>(['storage', 'clone', stid, '--name', 'cli-copy'], env);
    assert.equal(copy.name, 'cli-copy');
    assert.deepEqual(await velocityJson(['storage', 'delete', copy.stid], env), { stid: copy.stid });
    const gone = await velocity(['storage', 'show', copy.stid], { env });
    assert.equal(gone.code, 3);
    assert.match(gone.stderr, /STORAGE_NOT_FOUND/);
  });

  it('watches events as they happen (lines, or JSON lines), and a refused watch ends with its code', async () => {
    const streams = t.app.get(VmEventStreams);
    const { cid } = await velocityJson<{ cid: string }>(['catalog', 'create', '--group', 'root', '--label', 'watched'], env);
    const { vmid } = await velocityJson<{ vmid: string }>(['vm', 'create', '-c', cid, '-n', 'watched-vm'], env);
    const watching = velocity(['--json', 'vm', 'watch', '--vm', vmid, '--count', '2'], { env });
    const opened = streams.openCount;
    for (const deadline = Date.now() + 5000; streams.openCount === opened && Date.now() < deadline; ) await sleep(20);
    assert.equal((await velocity(['vm', 'start', vmid], { env })).code, 0);
    const json = await watching;
    assert.equal(json.code, 0, json.stderr);
    const events = json.stdout.trim().split('\n').map((line) => JSON.parse(line));
    assert.deepEqual(
      events.map((e) => [e.event, e.vmid, e.previous, e.state, e.cause]),
      [
        ['state', vmid, 'STOPPED', 'STARTING', 'request'],
        ['state', vmid, 'STARTING', 'RUNNING', 'request'],
      ],
    );

    const lines = velocity(['vm', 'watch', '--catalog', cid, '--count', '1'], { env });
    for (const deadline = Date.now() + 5000; streams.openCount === opened && Date.now() < deadline; ) await sleep(20);
    assert.equal((await velocity(['vm', 'stop', vmid, '--force'], { env })).code, 0);
    const human = await lines;
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\S+  ${vmid}  RUNNING → STOPPING \\(request\\)\n$`));

    const refused = await velocity(['vm', 'watch', '--vm', NO_VM], { env });
    assert.equal(refused.code, 3, refused.stderr);
    assert.match(refused.stderr, /^error: VM_NOT_FOUND: .+\(HTTP 404\)$/m);
  });

  it('creates a scoped API token, acts with it (VELOCITY_TOKEN, --token) until it is revoked, and the audit log names it', async () => {
    const since = new Date(Date.now() - 1000).toISOString();
    const { cid } = await velocityJson<{ cid: string }>(['catalog', 'create', '--group', 'root', '--label', 'token-scope'], env);
    const other = await velocityJson<{ cid: string }>(['catalog', 'create', '--group', 'root', '--label', 'token-elsewhere'], env);
    const { vmid } = await velocityJson<{ vmid: string }>(['vm', 'create', '-c', cid, '-n', 'token-vm'], env);
    await velocityJson(['vm', 'create', '-c', other.cid, '-n', 'not-for-the-token'], env);

    const created = await velocity(['token', 'create', 'ci-runner', '--catalog', `${cid}:view`, '--expires', '2099-01-01'], { env });
    assert.equal(created.code, 0, created.stderr);
    const [, id, secret] = /^created token ci-runner: ([0-9a-f-]{36})\n(vtk_\S+)\nThe secret is shown this once/.exec(created.stdout) ?? [];
    assert.ok(secret, created.stdout);
    const listed = await velocityJson<Array<{ id: string; expires: number; catalogs: unknown }>>(['token', 'list'], env);
    assert.deepEqual(listed.find((token) => token.id === id), { ...listed.find((token) => token.id === id), expires: Date.UTC(2099, 0, 1) / 1000, catalogs: [{ cid, permissions: ['view'] }] });
    assert.match((await velocity(['token', 'list'], { env })).stdout, new RegExp(`^ID\\s+NAME\\s+EXPIRES\\s+READ-ONLY\\s+CATALOGS\\s+CREATED\n(.*\n)*${id}\\s+ci-runner\\s+2099-01-01T00:00:00.000Z\\s+no\\s+${cid}:view\\s`));
    const badScope = await velocity(['token', 'create', 'bad', '--catalog', `${cid}:view,fly`], { env });
    assert.equal(badScope.code, 1, 'an unknown permission is a usage error');
    assert.match(badScope.stderr, /unknown permission fly/);

    // No login at all: only the token, as a CI job has it.
    const ci = { VELOCITY_URL: env.VELOCITY_URL, VELOCITY_CONFIG: join(scratch.path, 'ci-config.json'), VELOCITY_TOKEN: secret };
    assert.deepEqual((await velocityJson<Array<{ vmid: string }>>(['vm', 'list', '-c', cid], ci)).map((vm) => vm.vmid), [vmid]);
    assert.deepEqual((await velocityJson<Array<{ vmid: string }>>(['vm', 'list'], ci)).map((vm) => vm.vmid), [vmid], 'other catalogs do not exist for it');
    const elsewhere = await velocity(['vm', 'list', '-c', other.cid], { env: ci });
    assert.equal(elsewhere.code, 3, elsewhere.stderr);
    assert.match(elsewhere.stderr, /^error: CATALOG_NOT_FOUND: .+\(HTTP 404\)$/m);
    const beyond = await velocity(['--token', secret, 'storage', 'list'], { env: { VELOCITY_URL: env.VELOCITY_URL, VELOCITY_CONFIG: ci.VELOCITY_CONFIG } });
    assert.equal(beyond.code, 2, beyond.stderr);
    assert.match(beyond.stderr, /^error: PERMISSION_DENIED: .+\(HTTP 401\)$/m);
    const start = await velocity(['vm', 'start', vmid], { env: ci });
    assert.equal(start.code, 2, 'view only: no state changes');

    const audit = await velocityJson<{ total: number; records: Array<{ token_id: string | null; operation: string; status: number; error_code: string | null; targets: string[] }> }>(
      ['audit', '--since', since, '--target', vmid],
      env,
    );
    const refused = audit.records.find((record) => record.token_id === id);
    assert.deepEqual(refused && [refused.operation, refused.status, refused.error_code], ['requestVmState', 401, 'PERMISSION_DENIED']);
    const table = await velocity(['audit', '--since', since, '--limit', '1', '--target', vmid], { env });
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, new RegExp(`^TIME\\s+WHO\\s+TOKEN\\s+OPERATION\\s+STATUS\\s+ERROR\\s+TARGETS\n\\S+\\s+root\\s+${id}\\s+requestVmState\\s+401\\s+PERMISSION_DENIED\\s+${vmid}\n$`));
    assert.match(table.stderr, new RegExp(`^1 of ${audit.total} records: --offset 1 for the next page\n$`));
    const notRoot = await velocity(['audit'], { env: ci });
    assert.equal(notRoot.code, 2, 'a token scoped to a catalog cannot read the audit log');

    assert.deepEqual(await velocityJson(['token', 'revoke', id], env), { id });
    const revoked = await velocity(['vm', 'list', '-c', cid], { env: ci });
    assert.equal(revoked.code, 2, revoked.stderr);
    assert.match(revoked.stderr, /^error: AUTH_REQUIRED: .+\(HTTP 401\)$/m);
    const again = await velocity(['token', 'revoke', id], { env });
    assert.equal(again.code, 3);
    assert.match(again.stderr, /TOKEN_NOT_FOUND/);
  });

  it('shows and sets a group\'s quota, and a VM beyond it is refused with the quota\'s message', async () => {
    const authkey = JSON.parse(readFileSync(configFile, 'utf8')).logins[env.VELOCITY_URL.replace(/\/$/, '')].authkey;
    const gid = await t.createGroup(authkey, 'cli-quota');
    const { cid } = await velocityJson<{ cid: string }>(['catalog', 'create', '--group', gid, '--label', 'quota-lab'], env);
    await velocityJson(['vm', 'create', '-c', cid, '-n', 'first', '--memory', '256'], env);

    const set = await velocity(['group', 'quota', 'set', 'cli-quota', '--vms', '1', '--memory', '4096', '--storage', '10G'], { env });
    assert.equal(set.code, 0, set.stderr);
    assert.equal(set.stdout, `the limits of group ${gid}: vms 1, vcpus -, memory 4096, storage 10737418240\n`);
    const shown = await velocity(['group', 'quota', gid], { env });
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^LIMIT\s+UNIT\s+USED\s+MAX\nvms\s+VMs\s+1\s+1\nvcpus\s+virtual CPUs\s+1\s+-\nmemory\s+MiB\s+256\s+4096\nstorage\s+bytes\s+0 \(0 B\)\s+10737418240 \(10\.0 GiB\)\n$/);

    const refused = await velocity(['vm', 'create', '-c', cid, '-n', 'second'], { env });
    assert.equal(refused.code, 6, refused.stderr);
    assert.match(refused.stderr, /^error: QUOTA_EXCEEDED: .*vms.* \(HTTP 422\)$/m);

    const usage = await velocity(['group', 'quota', 'set', gid, '--vms', '2', '--clear', 'vms'], { env });
    assert.equal(usage.code, 1);
    assert.equal((await velocity(['group', 'quota', 'set', gid], { env })).code, 1, 'nothing to change');
    assert.equal((await velocity(['group', 'quota', 'set', gid, '--storage', '10X'], { env })).code, 1);
    const cleared = await velocityJson<{ limits: Record<string, number | null> }>(['group', 'quota', 'set', gid, '--clear', 'vms', '--clear', 'storage'], env);
    assert.deepEqual(cleared.limits, { vms: null, vcpus: null, memory: 4096, storage: null });
    assert.equal((await velocity(['vm', 'create', '-c', cid, '-n', 'second'], { env })).code, 0);
  });

  it('renews an authkey near its end, and logout revokes it', async () => {
    const config = JSON.parse(readFileSync(configFile, 'utf8'));
    const before = config.logins[config.url];
    // As if it had been issued long ago: less than a quarter of its lifetime is left.
    config.logins[config.url] = { ...before, obtained: before.expires - 10 * 3600 };
    writeFileSync(configFile, JSON.stringify(config), { mode: 0o600 });
    const list = await velocity(['catalog', 'list'], { env });
    assert.equal(list.code, 0, list.stderr);
    const renewed = JSON.parse(readFileSync(configFile, 'utf8')).logins[config.url];
    assert.notEqual(renewed.authkey, before.authkey);
    assert.ok(renewed.expires >= before.expires);
    assert.equal(statSync(configFile).mode & 0o777, 0o600);

    const logout = await velocity(['logout'], { env });
    assert.equal(logout.code, 0, logout.stderr);
    assert.equal(JSON.parse(readFileSync(configFile, 'utf8')).logins[config.url], undefined);
    assert.equal((await t.call({ method: 'GET', url: '/u/user', token: renewed.authkey })).status, 401, 'revoked on the server');
    assert.equal((await velocity(['vm', 'list'], { env })).code, 2);
  });
});

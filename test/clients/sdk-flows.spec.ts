import assert from 'node:assert/strict';
import { openAsBlob, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Client, createClient } from '../../clients/typescript/src/client';
import {
  createApiToken,
  createCatalog,
  createEfiVm,
  createGroup,
  createStorage,
  createUser,
  deleteCatalog,
  deleteVm,
  getConsoleOutput,
  getCurrentUser,
  getVm,
  getVmState,
  listCatalogs,
  listGroups,
  listNics,
  listVms,
  login,
  logout,
  requestVmState,
  revokeApiToken,
  uploadStorage,
} from '../../clients/typescript/src';
import { ScratchDir } from '../support/scratch-dir';
import { ROOT_PASSWORD, TestApp } from '../support/test-app';
import { sleep } from '../support/wait';

/**
 * The public API's main flows as an outside program drives them: the generated SDK
 * (clients/typescript) against a real listening server, with no casts — what compiles here is
 * what the document promises.
 */
describe('the public API through the generated SDK', () => {
  let t: TestApp;
  let anonymous: Client;

  /** A client holding the authkey of `username`. */
  async function loggedIn(username: string, password: string): Promise<Client> {
    const { data, error, response } = await login({ client: anonymous, body: { username, password } });
    assert.equal(response.status, 200, JSON.stringify(error));
    assert.ok(data && data.expires > Date.now() / 1000);
    return createClient({ baseUrl: anonymous.getConfig().baseUrl, auth: data.authkey });
  }

  before(async () => {
    t = await TestApp.start();
    anonymous = createClient({ baseUrl: `http://127.0.0.1:${await t.listen()}` });
  });
  after(() => t.close());

  it('login → catalog → VM → RUNNING → state → PAUSED → STOPPED → console → delete', async () => {
    const root = await loggedIn('root', ROOT_PASSWORD);
    const team = await createGroup({ client: root, body: { groupname: 'sdk-team' }, throwOnError: true });
    const groups = await listGroups({ client: root, throwOnError: true });
    const catalogmanager = groups.data.groups.find((group) => group.special === 'catalogmanager');
    assert.ok(catalogmanager);
    await createUser({
      client: root,
      body: { username: 'sdk-owner', password: 'sdk-owner-password', groups: [team.data.gid, catalogmanager.gid] },
      throwOnError: true,
    });
    const owner = await loggedIn('sdk-owner', 'sdk-owner-password');

    const catalog = await createCatalog({ client: owner, body: { group: team.data.gid, label: 'SDK catalog' }, throwOnError: true });
    const cid = catalog.data.cid;
    const disk = await createStorage({ client: owner, body: { group: team.data.gid, name: 'sdk-disk', size_mb: 16 }, throwOnError: true });
    const nat = (await listNics({ client: owner, throwOnError: true })).data.nics.find((nic) => nic.type === 'NAT');
    assert.ok(nat);
    const created = await createEfiVm({
      client: owner,
      body: {
        name: 'sdk-vm',
        catalog: cid,
        cpu_count: 1,
        memory_size_mb: 256,
        displays: [{ width: 1024, height: 768 }],
        storage_devices: [disk.data.stid],
        nics: [nat.nicid],
      },
      throwOnError: true,
    });
    const vmid = created.data.vmid;
    const vm = await getVm({ client: owner, query: { vmid }, throwOnError: true });
    assert.equal(vm.data.state, 'STOPPED');
    assert.deepEqual(vm.data.storage_devices, [disk.data.stid]);
    const listed = await listVms({ client: owner, query: { cid }, throwOnError: true });
    assert.deepEqual(listed.data.vms.map((v) => v.vmid), [vmid]);

    const steps: Array<['RUNNING' | 'PAUSED' | 'STOPPED', number]> = [
      ['RUNNING', 200],
      ['RUNNING', 208],
      ['PAUSED', 200],
      ['RUNNING', 200],
      ['STOPPED', 200],
    ];
    for (const [state, status] of steps) {
      const reply = await requestVmState({ client: owner, body: { vmid, state }, throwOnError: true });
      assert.equal(reply.response.status, status, state);
      assert.deepEqual(reply.data, { vmid, state });
      const now = await getVmState({ client: owner, query: { vmid }, throwOnError: true });
      assert.equal(now.data.state, state);
    }

    // The simulator's firmware printed its banner while the VM ran.
    const deadline = Date.now() + 5000;
    let console = await getConsoleOutput({ client: owner, query: { vmid }, throwOnError: true });
    while (!console.data.output.includes('login:') && Date.now() < deadline) {
      await sleep(50);
      console = await getConsoleOutput({ client: owner, query: { vmid }, throwOnError: true });
    }
    assert.match(console.data.output, /login:/);
    assert.equal(console.data.size, Buffer.byteLength(console.data.output));

    const deleted = await deleteVm({ client: owner, body: { vmid }, throwOnError: true });
    assert.deepEqual(deleted.data, { vmid });
    assert.equal((await getVm({ client: owner, query: { vmid } })).response.status, 404);
    await deleteCatalog({ client: owner, body: { cid }, throwOnError: true });
    const loggedOut = await logout({ client: owner, throwOnError: true });
    assert.equal(loggedOut.data.revoked, true);
  });

  it('surfaces the server\'s {code, message} as the typed error', async () => {
    const root = await loggedIn('root', ROOT_PASSWORD);
    const missing = await getVm({ client: root, query: { vmid: '00000000-0000-4000-8000-000000000000' } });
    assert.equal(missing.response.status, 404);
    assert.equal(missing.data, undefined);
    assert.equal(missing.error?.code, 'VM_NOT_FOUND');
    assert.match(missing.error.message, /./);

    const badLogin = await login({ client: anonymous, body: { username: 'root', password: 'not-the-password' } });
    assert.equal(badLogin.response.status, 403);
    assert.equal(badLogin.error?.code, 'INVALID_CREDENTIALS');

    const noKey = await listCatalogs({ client: anonymous });
    assert.deepEqual([noKey.response.status, noKey.error?.code], [401, 'AUTH_REQUIRED']);

    // throwOnError: the same body is what the promise rejects with.
    await assert.rejects(getVm({ client: root, query: { vmid: 'not-a-uuid' }, throwOnError: true }), { code: 'VALIDATION_FAILED' });
  });

  it('a program uses an API token exactly as an authkey: the client\'s auth is its secret', async () => {
    const root = await loggedIn('root', ROOT_PASSWORD);
    const made = await createApiToken({ client: root, body: { name: 'sdk-program', read_only: true }, throwOnError: true });
    assert.match(made.data.secret, /^vtk_/);
    assert.equal(made.data.expires, null);
    const program = createClient({ baseUrl: anonymous.getConfig().baseUrl, auth: made.data.secret });
    const me = await getCurrentUser({ client: program, throwOnError: true });
    assert.equal(me.data.username, 'root');
    const write = await createGroup({ client: program, body: { groupname: 'by-read-only-token' } });
    assert.deepEqual([write.response.status, write.error?.code], [401, 'PERMISSION_DENIED']);
    await revokeApiToken({ client: root, body: { id: made.data.id }, throwOnError: true });
    const revoked = await getCurrentUser({ client: program });
    assert.deepEqual([revoked.response.status, revoked.error?.code], [401, 'AUTH_REQUIRED']);
  });

  it('uploads a file as a Blob that fetch reads as it sends (openAsBlob: never in memory)', async () => {
    const root = await loggedIn('root', ROOT_PASSWORD);
    const rootGroup = (await listGroups({ client: root, throwOnError: true })).data.groups.find((group) => group.special === 'root');
    assert.ok(rootGroup);
    const scratch = new ScratchDir('velocity-sdk-');
    try {
      const image = scratch.file('image.iso');
      writeFileSync(image, Buffer.alloc(256 * 1024, 7));
      const uploaded = await uploadStorage({
        client: root,
        query: { group: rootGroup.gid, name: 'sdk-iso', format: 'iso' },
        body: await openAsBlob(image),
        throwOnError: true,
      });
      assert.equal(uploaded.data.size_bytes, 256 * 1024);
      assert.equal(uploaded.data.format, 'iso');
    } finally {
      scratch.cleanup();
    }
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { Reply, TestApp } from '../support/test-app';
import { createEfiVm, makeVmWorld, setState, VmWorld } from '../support/vm-fixture';
import { eventually, sleep, within } from '../support/wait';

interface ConsoleSocket {
  ws: WebSocket;
  received(): string;
  /** Settles when the server closes the socket, with the code, reason and time. */
  closed: Promise<{ code: number; reason: string; at: number }>;
}

/**
 * An open console socket is closed (4401: the authkey is gone; 4403: the permission is gone,
 * or the VM) within a second of each change that ends its holder's right to it, and nothing
 * typed after the change reaches the VM. A socket whose right is untouched stays open.
 */
describe('console sockets end when access ends', () => {
  let t: TestApp;
  let w: VmWorld;
  let port: number;
  let vmid: string;
  /** The owner's socket on `vmid`, opened first; none of the changes concerns it. */
  let control: ConsoleSocket;

  async function openConsole(token: string, target = vmid): Promise<ConsoleSocket> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v/console/stream?vmid=${target}`, { headers: { authorization: `Bearer ${token}` } });
    let received = '';
    ws.on('message', (data: Buffer) => (received += data.toString()));
    const closed = new Promise<{ code: number; reason: string; at: number }>((resolve) =>
      ws.once('close', (code, reason) => resolve({ code, reason: reason.toString(), at: Date.now() })),
    );
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return { ws, received: () => received, closed };
  }

  /** Proves the socket types on the VM: the marker comes back as the guest's echo. */
  async function typesOnTheVm(socket: ConsoleSocket, marker: string): Promise<void> {
    socket.ws.send(`${marker}\n`);
    await eventually(() => socket.received().includes(marker), `the echo of ${marker}`);
  }

  async function vmOutput(token = w.owner.token, target = vmid): Promise<string> {
    const reply = await t.call({ method: 'GET', url: '/v/console', token, query: { vmid: target } });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return reply.body.output;
  }

  /**
   * Makes the change, types a marker at once, and expects the socket closed with `code` and
   * `reason` within a second. With `vmStays`, also that the marker never reached the VM.
   */
  async function expectEnded(socket: ConsoleSocket, change: () => Promise<Reply | void>, code: number, reason: string, marker: string, vmStays = true) {
    const reply = await change();
    if (reply) assert.ok(reply.status < 300, `the change succeeded: ${reply.status} ${JSON.stringify(reply.body)}`);
    const changedAt = Date.now();
    socket.ws.send(`${marker}\n`); // typed after the change
    const closed = await within(socket.closed, 3000, 'the socket to close after the change');
    assert.deepEqual([closed.code, closed.reason], [code, reason]);
    assert.ok(closed.at - changedAt < 1000, `closed ${closed.at - changedAt} ms after the change`);
    if (vmStays) {
      await sleep(300); // the guest echoes within tens of milliseconds
      assert.ok(!(await vmOutput()).includes(marker), 'input typed after the change did not reach the VM');
    }
    assert.equal(control.ws.readyState, WebSocket.OPEN, 'the owner\'s socket, which no change concerns, stays open');
  }

  async function shareWith(gid: string, flags: Record<string, boolean> = { interact: true }, cid = w.cid): Promise<void> {
    const reply = await t.call({ method: 'POST', url: '/c/share', token: w.owner.token, body: { cid, gid, ...flags } });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
  }

  before(async () => {
    t = await TestApp.start();
    port = await t.listen();
    w = await makeVmWorld(t, 'revocation');
    vmid = await createEfiVm(t, w.owner.token, { name: 'shared-vm', catalog: w.cid });
    assert.equal((await setState(t, w.owner.token, vmid, 'RUNNING')).status, 200);
    control = await openConsole(w.owner.token);
    await eventually(() => control.received().includes('login:'), 'the boot banner');
  });
  after(async () => {
    control.ws.close();
    await t.close();
  });

  it('share revoked: 4403', async () => {
    const user = await t.createUser(w.root, 'rev-share');
    await shareWith(user.personalGid);
    const socket = await openConsole(user.token);
    await typesOnTheVm(socket, 'share-alive-1');
    const revoke = () => t.call({ method: 'DELETE', url: '/c/share', token: w.owner.token, body: { cid: w.cid, gid: user.personalGid } });
    await expectEnded(socket, revoke, 4403, 'VM_NOT_FOUND', 'after-share-revoked-1');
  });

  it('share updated without interact: 4403', async () => {
    const user = await t.createUser(w.root, 'rev-flags');
    await shareWith(user.personalGid, { view: true, interact: true });
    const socket = await openConsole(user.token);
    await typesOnTheVm(socket, 'flags-alive-2');
    await expectEnded(socket, () => shareWith(user.personalGid, { view: true }), 4403, 'PERMISSION_DENIED', 'after-share-narrowed-2');
  });

  it('logout (DELETE /u/auth): 4401', async () => {
    const user = await t.createUser(w.root, 'rev-logout');
    await shareWith(user.personalGid);
    const socket = await openConsole(user.token);
    await typesOnTheVm(socket, 'logout-alive-3');
    await expectEnded(socket, () => t.call({ method: 'DELETE', url: '/u/auth', token: user.token }), 4401, 'AUTH_REQUIRED', 'after-logout-3');
  });

  it('key renewed (PATCH /u/auth): 4401 for the old key', async () => {
    const user = await t.createUser(w.root, 'rev-renew');
    await shareWith(user.personalGid);
    const socket = await openConsole(user.token);
    await typesOnTheVm(socket, 'renew-alive-4');
    await expectEnded(socket, () => t.call({ method: 'PATCH', url: '/u/auth', token: user.token }), 4401, 'AUTH_REQUIRED', 'after-renew-4');
  });

  it('user deleted: 4401', async () => {
    const user = await t.createUser(w.root, 'rev-deleted');
    await shareWith(user.personalGid);
    const socket = await openConsole(user.token);
    await typesOnTheVm(socket, 'deleted-alive-5');
    await expectEnded(socket, () => t.call({ method: 'DELETE', url: '/u/user', token: w.root, body: { uid: user.uid } }), 4401, 'AUTH_REQUIRED', 'after-user-deleted-5');
  });

  it('group membership removed: 4403', async () => {
    const gid = await t.createGroup(w.root, 'rev-members');
    await shareWith(gid);
    const user = await t.createUser(w.root, 'rev-member', [gid]);
    const socket = await openConsole(user.token);
    await typesOnTheVm(socket, 'member-alive-6');
    const unassign = () => t.call({ method: 'DELETE', url: '/u/group/assign', token: w.root, body: { uid: user.uid, groups: [gid] } });
    await expectEnded(socket, unassign, 4403, 'VM_NOT_FOUND', 'after-unassigned-6');
  });

  it('group deleted: 4403', async () => {
    const gid = await t.createGroup(w.root, 'rev-group');
    await shareWith(gid);
    const user = await t.createUser(w.root, 'rev-grouped', [gid]);
    const socket = await openConsole(user.token);
    await typesOnTheVm(socket, 'group-alive-7');
    await expectEnded(socket, () => t.call({ method: 'DELETE', url: '/u/group', token: w.root, body: { gid } }), 4403, 'VM_NOT_FOUND', 'after-group-deleted-7');
  });

  it('VM deleted: 4403', async () => {
    const doomed = await createEfiVm(t, w.owner.token, { name: 'doomed-vm', catalog: w.cid });
    assert.equal((await setState(t, w.owner.token, doomed, 'RUNNING')).status, 200);
    const socket = await openConsole(w.owner.token, doomed);
    await eventually(() => socket.received().includes('login:'), 'the boot banner');
    const remove = () => t.call({ method: 'DELETE', url: '/v', token: w.owner.token, body: { vmid: doomed, force: true } });
    await expectEnded(socket, remove, 4403, 'VM_NOT_FOUND', 'after-vm-deleted-8', false);
  });

  it('catalog deleted: 4403', async () => {
    const catalog = await t.call({ method: 'PUT', url: '/c', token: w.owner.token, body: { group: w.gid, label: 'doomed catalog' } });
    assert.equal(catalog.status, 200);
    const cid = catalog.body.cid;
    const inside = await createEfiVm(t, w.owner.token, { name: 'inside-vm', catalog: cid });
    assert.equal((await setState(t, w.owner.token, inside, 'RUNNING')).status, 200);
    const user = await t.createUser(w.root, 'rev-catalog');
    await shareWith(user.personalGid, { interact: true }, cid);
    const socket = await openConsole(user.token, inside);
    await eventually(() => socket.received().includes('login:'), 'the boot banner');
    const remove = () => t.call({ method: 'DELETE', url: '/c', token: w.owner.token, body: { cid } });
    await expectEnded(socket, remove, 4403, 'VM_NOT_FOUND', 'after-catalog-deleted-9', false);
  });

  // Last: moving the clock past the lifetime expires every key issued so far.
  it('key expired: 4401', async () => {
    const user = await t.createUser(w.root, 'rev-expiry');
    await shareWith(user.personalGid);
    const socket = await openConsole(user.token);
    await typesOnTheVm(socket, 'expiry-alive-10');
    const changedAt = Date.now();
    t.clock.advance(t.config.authkeyTtlSeconds + 1);
    socket.ws.send('after-expiry-10\n');
    const closed = await within(socket.closed, 3000, 'the socket to close after expiry');
    assert.deepEqual([closed.code, closed.reason], [4401, 'AUTH_REQUIRED']);
    assert.ok(closed.at - changedAt < 1000, `closed ${closed.at - changedAt} ms after expiry`);
    await sleep(300);
    const fresh = await t.loginRoot();
    assert.ok(!(await vmOutput(fresh)).includes('after-expiry-10'), 'input typed after expiry did not reach the VM');
  });
});

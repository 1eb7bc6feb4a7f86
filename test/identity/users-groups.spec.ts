import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestApp } from '../support/test-app';

describe('users, groups and memberships', () => {
  let t: TestApp;
  let root: string;
  let manager: { uid: string; token: string };
  let rootGid: string;

  before(async () => {
    t = await TestApp.start();
    root = await t.loginRoot();
    rootGid = await t.specialGroupId(root, 'root');
    manager = await t.createUser(root, 'manager', [await t.specialGroupId(root, 'usermanager')]);
  });
  after(() => t.close());

  it('the first start made the four special groups and root', async () => {
    const groups = await t.call({ method: 'GET', url: '/u/group/list', token: root });
    const special = groups.body.groups.filter((g: { special: string | null }) => g.special).map((g: { special: string }) => g.special);
    assert.deepEqual(special.sort(), ['catalogmanager', 'poolmanager', 'root', 'usermanager']);
  });

  it('a usermanager creates users and groups and assigns memberships', async () => {
    const gid = await t.createGroup(manager.token, 'developers');
    const bob = await t.call({
      method: 'PUT',
      url: '/u/user',
      token: manager.token,
      body: { username: 'bob', password: 'bob-password', groups: [gid] },
    });
    assert.equal(bob.status, 200);
    assert.deepEqual(bob.body.groups.map((g: { groupname: string }) => g.groupname), ['bob', 'developers']);
    assert.equal(bob.body.groups.find((g: { groupname: string }) => g.groupname === 'bob').personal, true);

    const ops = await t.createGroup(manager.token, 'ops');
    const assigned = await t.call({ method: 'PUT', url: '/u/group/assign', token: manager.token, body: { uid: bob.body.uid, groups: [ops] } });
    assert.equal(assigned.status, 200);
    assert.deepEqual(assigned.body.groups.map((g: { groupname: string }) => g.groupname), ['bob', 'developers', 'ops']);

    const revoked = await t.call({ method: 'DELETE', url: '/u/group/assign', token: manager.token, body: { uid: bob.body.uid, groups: [gid] } });
    assert.equal(revoked.status, 200);
    assert.deepEqual(revoked.body.groups.map((g: { groupname: string }) => g.groupname), ['bob', 'ops']);

    const bobKey = await t.login('bob', 'bob-password');
    const me = await t.call({ method: 'GET', url: '/u/user', token: bobKey });
    assert.deepEqual(me.body.groups.map((g: { groupname: string }) => g.groupname), ['bob', 'ops']);
    // A plain user lists only their own groups.
    const mine = await t.call({ method: 'GET', url: '/u/group/list', token: bobKey });
    assert.deepEqual(mine.body.groups.map((g: { groupname: string }) => g.groupname), ['bob', 'ops']);
  });

  it('a user outside usermanager gets 401 on every usermanager endpoint, and nothing changes', async () => {
    const plain = await t.createUser(root, 'plain');
    const users = await t.count('users');
    const groups = await t.count('groups');
    const memberships = await t.count('memberships');
    const attempts = [
      { method: 'PUT' as const, url: '/u/user', body: { username: 'mallory', password: 'mallory-password' } },
      { method: 'DELETE' as const, url: '/u/user', body: { uid: manager.uid } },
      { method: 'GET' as const, url: '/u/user/list' },
      { method: 'PUT' as const, url: '/u/group', body: { groupname: 'sneaky' } },
      { method: 'DELETE' as const, url: '/u/group', body: { gid: rootGid } },
      { method: 'PUT' as const, url: '/u/group/assign', body: { uid: plain.uid, groups: [rootGid] } },
      { method: 'DELETE' as const, url: '/u/group/assign', body: { uid: manager.uid, groups: [rootGid] } },
    ];
    for (const attempt of attempts) {
      const reply = await t.call({ ...attempt, token: plain.token });
      assert.equal(reply.status, 401, `${attempt.method} ${attempt.url}`);
      assert.equal(reply.body.code, 'PERMISSION_DENIED');
    }
    assert.equal(await t.count('users'), users);
    assert.equal(await t.count('groups'), groups);
    assert.equal(await t.count('memberships'), memberships);
  });

  it('a usermanager assigning to root, or revoking root, gets 406; root itself may', async () => {
    const carol = await t.createUser(root, 'carol');
    const assign = await t.call({ method: 'PUT', url: '/u/group/assign', token: manager.token, body: { uid: carol.uid, groups: [rootGid] } });
    assert.equal(assign.status, 406);
    assert.equal(assign.body.code, 'PROTECTED_GROUP');
    const create = await t.call({
      method: 'PUT',
      url: '/u/user',
      token: manager.token,
      body: { username: 'dave', password: 'dave-password', groups: [rootGid] },
    });
    assert.equal(create.status, 406);
    assert.equal(await t.count('users', 'username = ?', ['dave']), 0);
    assert.equal(await t.count('memberships', 'uid = ? AND gid = ?', [carol.uid, rootGid]), 0);

    const byRoot = await t.call({ method: 'PUT', url: '/u/group/assign', token: root, body: { uid: carol.uid, groups: [rootGid] } });
    assert.equal(byRoot.status, 200);
    const revoke = await t.call({ method: 'DELETE', url: '/u/group/assign', token: manager.token, body: { uid: carol.uid, groups: [rootGid] } });
    assert.equal(revoke.status, 406);
    const deleteRootMember = await t.call({ method: 'DELETE', url: '/u/user', token: manager.token, body: { uid: carol.uid } });
    assert.equal(deleteRootMember.status, 406);
  });

  it('special groups and personal groups cannot be deleted directly (406); a personal membership cannot be revoked', async () => {
    const reply = await t.call({ method: 'DELETE', url: '/u/group', token: root, body: { gid: rootGid } });
    assert.equal(reply.status, 406);
    const erin = await t.createUser(root, 'erin');
    const personal = await t.call({ method: 'DELETE', url: '/u/group', token: root, body: { gid: erin.personalGid } });
    assert.equal(personal.status, 406);
    const unassign = await t.call({ method: 'DELETE', url: '/u/group/assign', token: root, body: { uid: erin.uid, groups: [erin.personalGid] } });
    assert.equal(unassign.status, 406);
    const rootUser = (await t.call({ method: 'GET', url: '/u/user', token: root })).body.uid;
    assert.equal((await t.call({ method: 'DELETE', url: '/u/user', token: root, body: { uid: rootUser } })).status, 406);
  });

  it('duplicate user and group names get 409, including a user named like an existing group', async () => {
    await t.createGroup(root, 'taken');
    const dupGroup = await t.call({ method: 'PUT', url: '/u/group', token: root, body: { groupname: 'taken' } });
    assert.equal(dupGroup.status, 409);
    assert.equal(dupGroup.body.code, 'GROUPNAME_TAKEN');
    const userLikeGroup = await t.call({ method: 'PUT', url: '/u/user', token: root, body: { username: 'taken', password: 'password-123' } });
    assert.equal(userLikeGroup.status, 409);
    const dupUser = await t.call({ method: 'PUT', url: '/u/user', token: root, body: { username: 'manager', password: 'password-123' } });
    assert.equal(dupUser.status, 409);
    assert.equal(dupUser.body.code, 'USERNAME_TAKEN');
    assert.equal(await t.count('users', 'username = ?', ['taken']), 0);
  });

  it('concurrent creates of one name give one 200 and one 409', async () => {
    const replies = await Promise.all(
      [1, 2].map(() => t.call({ method: 'PUT', url: '/u/user', token: root, body: { username: 'racer', password: 'racer-password' } })),
    );
    assert.deepEqual(replies.map((r) => r.status).sort(), [200, 409]);
    assert.equal(await t.count('users', 'username = ?', ['racer']), 1);
    assert.equal(await t.count('groups', 'groupname = ?', ['racer']), 1);
  });

  it('deleting a user removes the personal group, memberships and keys', async () => {
    const frank = await t.createUser(root, 'frank', [await t.createGroup(root, 'frank-team')]);
    const deleted = await t.call({ method: 'DELETE', url: '/u/user', token: manager.token, body: { uid: frank.uid } });
    assert.equal(deleted.status, 200);
    assert.deepEqual(deleted.body, { uid: frank.uid });
    assert.equal(await t.count('users', 'uid = ?', [frank.uid]), 0);
    assert.equal(await t.count('groups', 'gid = ?', [frank.personalGid]), 0);
    assert.equal(await t.count('memberships', 'uid = ?', [frank.uid]), 0);
    assert.equal(await t.count('authkeys', 'uid = ?', [frank.uid]), 0);
    assert.equal(await t.count('groups', 'groupname = ?', ['frank-team']), 1, 'other groups stay');
    assert.equal((await t.call({ method: 'GET', url: '/u/user', token: frank.token })).status, 401);
    assert.equal((await t.call({ method: 'DELETE', url: '/u/user', token: root, body: { uid: frank.uid } })).status, 404);
  });

  it('unknown users and groups get 404', async () => {
    const missing = '00000000-0000-4000-8000-000000000000';
    const assign = await t.call({ method: 'PUT', url: '/u/group/assign', token: root, body: { uid: missing, groups: [rootGid] } });
    assert.equal(assign.status, 404);
    assert.equal(assign.body.code, 'USER_NOT_FOUND');
    const group = await t.call({ method: 'PUT', url: '/u/group/assign', token: root, body: { uid: manager.uid, groups: [missing] } });
    assert.equal(group.status, 404);
    assert.equal(group.body.code, 'GROUP_NOT_FOUND');
    assert.equal((await t.call({ method: 'DELETE', url: '/u/group', token: root, body: { gid: missing } })).status, 404);
  });

  it('membership changes take effect on the very next request of an already-used key', async () => {
    const usermanager = await t.specialGroupId(root, 'usermanager');
    const gina = await t.createUser(root, 'gina', [usermanager]);
    // The key is resolved (and cached) by a first request.
    assert.equal((await t.call({ method: 'GET', url: '/u/user/list', token: gina.token })).status, 200);
    await t.call({ method: 'DELETE', url: '/u/group/assign', token: root, body: { uid: gina.uid, groups: [usermanager] } });
    assert.equal((await t.call({ method: 'GET', url: '/u/user/list', token: gina.token })).status, 401);
    await t.call({ method: 'PUT', url: '/u/group/assign', token: root, body: { uid: gina.uid, groups: [usermanager] } });
    assert.equal((await t.call({ method: 'GET', url: '/u/user/list', token: gina.token })).status, 200);
    // Deleting a group the user is in takes it away at once too.
    const team = await t.createGroup(root, 'short-lived');
    await t.call({ method: 'PUT', url: '/u/group/assign', token: root, body: { uid: gina.uid, groups: [team] } });
    const mine = async () => (await t.call({ method: 'GET', url: '/u/group/list', token: gina.token })).body.groups.map((g: { gid: string }) => g.gid);
    assert.ok((await mine()).length > 0);
    await t.call({ method: 'DELETE', url: '/u/group', token: root, body: { gid: team } });
    const whoami = await t.call({ method: 'GET', url: '/u/user', token: gina.token });
    assert.ok(!whoami.body.groups.some((g: { gid: string }) => g.gid === team));
  });

  it('GET /u/user/list lists every user for a usermanager', async () => {
    const reply = await t.call({ method: 'GET', url: '/u/user/list', token: manager.token });
    assert.equal(reply.status, 200);
    const names = reply.body.users.map((u: { username: string }) => u.username);
    assert.ok(names.includes('root') && names.includes('manager'));
    assert.ok(reply.body.users.every((u: Record<string, unknown>) => !('passwordHash' in u) && !('password_hash' in u)));
  });
});

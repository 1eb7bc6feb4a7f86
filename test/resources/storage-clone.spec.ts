import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it, mock } from 'node:test';
import { UnitOfWork } from '../../src/database/unit-of-work';
import { hashRange, writeDataAt } from '../support/image-files';
import { TestApp } from '../support/test-app';
import { createDisk, createEfiVm, makeVmWorld, setState, uploadIso, VmWorld } from '../support/vm-fixture';

const MiB = 1024 * 1024;

/**
 * POST /r/storage/clone's rules, on whatever filesystem the data directory is on: what a
 * clone carries over, who may clone what where, and that every refusal or failure leaves no
 * row and no file. How the bytes are copied is tested per filesystem
 * (storage-clone-sparse, storage-clone-filesystems).
 */
describe('cloning storage', () => {
  let t: TestApp;
  let world: VmWorld;
  let stranger: { token: string; personalGid: string };
  let storageDir: string;

  before(async () => {
    t = await TestApp.start();
    world = await makeVmWorld(t, 'cloner');
    stranger = await t.createUser(world.root, 'stranger');
    storageDir = join(t.config.dataDir, 'storage');
  });
  after(() => t.close());

  const clone = (token: string, body: Record<string, unknown>) => t.call({ method: 'POST', url: '/r/storage/clone', token, body });
  const imagePath = (image: { stid: string; format: string }) => join(storageDir, `${image.stid}.${image.format === 'iso' ? 'iso' : 'img'}`);

  /** The storage rows and files, to show that a request left nothing behind. */
  async function snapshot(): Promise<string> {
    return JSON.stringify({ rows: await t.dataSource.query('SELECT * FROM storage ORDER BY stid'), files: readdirSync(storageDir).sort() });
  }

  it('makes a new image in the target group with the same content, format and read-only flag', async () => {
    const iso = await uploadIso(t, world.owner.token, world.owner.personalGid, 'installer.iso', 3 * 4096 + 17);
    const reply = await clone(world.owner.token, { stid: iso.stid, group: world.gid, name: 'installer copy' });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.notEqual(reply.body.stid, iso.stid);
    assert.deepEqual(
      [reply.body.gid, reply.body.name, reply.body.format, reply.body.read_only, reply.body.template, reply.body.size_bytes, typeof reply.body.cow],
      [world.gid, 'installer copy', 'iso', true, false, 3 * 4096 + 17, 'boolean'],
    );
    assert.deepEqual(readFileSync(imagePath(reply.body)), readFileSync(join(storageDir, `${iso.stid}.iso`)));
    const listed = await t.call({ method: 'GET', url: '/r/storage', token: world.owner.token, query: { stid: reply.body.stid } });
    const { cow: _cow, ...image } = reply.body;
    assert.deepEqual(listed.body, image);
  });

  it('a clone of a template is an ordinary writable image, and outlives the template', async () => {
    const template = await createDisk(t, world.owner.token, world.gid, 'golden', 8);
    const templatePath = join(storageDir, `${template}.img`);
    await writeDataAt(templatePath, 2 * MiB, 3 * MiB);
    const marked = await t.call({ method: 'PATCH', url: '/r/storage', token: world.owner.token, body: { stid: template, template: true } });
    assert.equal(marked.status, 200, JSON.stringify(marked.body));
    const reply = await clone(world.owner.token, { stid: template, group: world.gid, name: 'golden copy' });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.deepEqual([reply.body.read_only, reply.body.template, reply.body.size_bytes], [false, false, 8 * MiB]);
    const clonePath = imagePath(reply.body);
    const expected = await hashRange(templatePath, 0, 8 * MiB);
    assert.equal(await hashRange(clonePath, 0, 8 * MiB), expected);
    // Its own file: writing the clone leaves the template as it was.
    await writeDataAt(clonePath, 0, MiB);
    assert.equal(await hashRange(templatePath, 0, 8 * MiB), expected);
    // A VM attaches the clone writable, unlike the template.
    const vmid = await createEfiVm(t, world.owner.token, { name: 'from-clone', catalog: world.cid, storage_devices: [reply.body.stid, template] });
    const vm = await t.call({ method: 'GET', url: '/v', token: world.owner.token, query: { vmid } });
    assert.deepEqual(vm.body.read_only_storage_devices, [template]);
    assert.equal((await t.call({ method: 'DELETE', url: '/v', token: world.owner.token, body: { vmid } })).status, 200);
    assert.equal((await t.call({ method: 'DELETE', url: '/r/storage', token: world.owner.token, body: { stid: template } })).status, 200);
    assert.equal(existsSync(templatePath), false);
    assert.equal((await t.call({ method: 'GET', url: '/r/storage', token: world.owner.token, query: { stid: reply.body.stid } })).status, 200);
    assert.notEqual(await hashRange(clonePath, 0, 8 * MiB), expected);
  });

  it('needs read access to the source and management of the target group; a refusal leaves no row and no file', async () => {
    const source = await createDisk(t, world.owner.token, world.gid, 'source', 4);
    const unknown = '00000000-0000-4000-8000-0000000000ab';
    const before = await snapshot();
    const refusals: Array<[who: string, token: string, body: Record<string, unknown>, status: number, code: string]> = [
      ['a source the caller cannot see', stranger.token, { stid: source, group: stranger.personalGid, name: 'taken' }, 404, 'STORAGE_NOT_FOUND'],
      ['a target group the caller cannot manage', world.owner.token, { stid: source, group: stranger.personalGid, name: 'given' }, 404, 'GROUP_NOT_FOUND'],
      ['an unknown source', world.owner.token, { stid: unknown, group: world.gid, name: 'x' }, 404, 'STORAGE_NOT_FOUND'],
      ['an unknown group', world.owner.token, { stid: source, group: unknown, name: 'x' }, 404, 'GROUP_NOT_FOUND'],
      ['a path for a name', world.owner.token, { stid: source, group: world.gid, name: '../../etc/passwd' }, 400, 'VALIDATION_FAILED'],
      ['a hidden name', world.owner.token, { stid: source, group: world.gid, name: '.part' }, 400, 'VALIDATION_FAILED'],
      ['a name with a slash', world.owner.token, { stid: source, group: world.gid, name: 'a/b' }, 400, 'VALIDATION_FAILED'],
      ['an empty name', world.owner.token, { stid: source, group: world.gid, name: '' }, 400, 'VALIDATION_FAILED'],
      ['no name', world.owner.token, { stid: source, group: world.gid }, 400, 'VALIDATION_FAILED'],
      ['a source that is not an id', world.owner.token, { stid: 'golden', group: world.gid, name: 'x' }, 400, 'VALIDATION_FAILED'],
      ['an unknown field', world.owner.token, { stid: source, group: world.gid, name: 'x', template: true }, 400, 'VALIDATION_FAILED'],
    ];
    for (const [who, token, body, status, code] of refusals) {
      const reply = await clone(token, body);
      assert.deepEqual([reply.status, reply.body.code], [status, code], `${who}: ${JSON.stringify(reply.body)}`);
    }
    assert.equal(await snapshot(), before);
  });

  it('a disk a running VM writes is refused (409 naming the VM); stopped, it clones', async () => {
    const disk = await createDisk(t, world.owner.token, world.gid, 'busy', 4);
    const vmid = await createEfiVm(t, world.owner.token, { name: 'writer', catalog: world.cid, storage_devices: [disk] });
    assert.equal((await setState(t, world.owner.token, vmid, 'RUNNING')).status, 200);
    const before = await snapshot();
    const busy = await clone(world.owner.token, { stid: disk, group: world.gid, name: 'torn' });
    assert.deepEqual([busy.status, busy.body.code, busy.body.vmid], [409, 'STORAGE_IN_USE', vmid]);
    assert.equal(await snapshot(), before);
    assert.equal((await setState(t, world.owner.token, vmid, 'STOPPED', true)).status, 200);
    assert.equal((await clone(world.owner.token, { stid: disk, group: world.gid, name: 'consistent' })).status, 200);
  });

  it('a failure after the copy (the commit) leaves no file and no row', async () => {
    const source = await createDisk(t, world.owner.token, world.gid, 'doomed source', 4);
    await writeDataAt(join(storageDir, `${source}.img`), 0, MiB);
    const before = await snapshot();
    const failing = mock.method(t.app.get(UnitOfWork), 'run', async () => {
      throw new Error('SQLITE_FULL: database or disk is full');
    });
    try {
      const reply = await clone(world.owner.token, { stid: source, group: world.gid, name: 'never' });
      assert.deepEqual([reply.status, reply.body.code], [500, 'INTERNAL_ERROR']);
      assert.equal(failing.mock.callCount(), 1, 'the copy was made and its commit attempted');
    } finally {
      failing.mock.restore();
    }
    assert.equal(await snapshot(), before);
  });
});

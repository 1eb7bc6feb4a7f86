import assert from 'node:assert/strict';
import { TestApp } from './test-app';
import { sleep } from './wait';

/** A catalog owned by a fresh group with one member, plus that member's storage and the NAT NIC. */
export interface VmWorld {
  root: string;
  owner: { uid: string; token: string; personalGid: string };
  gid: string;
  cid: string;
  natNic: string;
}

export async function makeVmWorld(t: TestApp, name = 'vmworld'): Promise<VmWorld> {
  const root = await t.loginRoot();
  const catalogmanager = await t.specialGroupId(root, 'catalogmanager');
  const gid = await t.createGroup(root, `${name}-team`);
  const owner = await t.createUser(root, `${name}-owner`, [gid, catalogmanager]);
  const catalog = await t.call({ method: 'PUT', url: '/c', token: owner.token, body: { group: gid, label: `${name} catalog` } });
  assert.equal(catalog.status, 200);
  const nics = await t.call({ method: 'GET', url: '/r/nic/list', token: owner.token });
  const nat = nics.body.nics.find((n: { type: string }) => n.type === 'NAT');
  assert.ok(nat, 'the built-in NAT NIC exists');
  return { root, owner, gid, cid: catalog.body.cid, natNic: nat.nicid };
}

export async function createDisk(t: TestApp, token: string, gid: string, name: string, sizeMb = 64): Promise<string> {
  const reply = await t.call({ method: 'PUT', url: '/r/storage', token, body: { group: gid, name, size_mb: sizeMb } });
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  return reply.body.stid;
}

/** Uploads `payload` as an image with these query fields (format, read_only); its reply body. */
async function upload(t: TestApp, token: string, query: Record<string, string>, payload: Buffer): Promise<{ stid: string; [field: string]: unknown }> {
  const reply = await t.call({ method: 'POST', url: '/r/storage/upload', token, query, headers: { 'content-type': 'application/octet-stream' }, payload });
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  return reply.body;
}

/** Uploads an ISO image of `bytes` bytes; its reply body. */
export function uploadIso(t: TestApp, token: string, gid: string, name: string, bytes = 4096): Promise<{ stid: string; [field: string]: unknown }> {
  return upload(t, token, { group: gid, name, format: 'iso' }, Buffer.alloc(bytes, 7));
}

/** Uploads `payload` as a read-only raw image (a kernel, an initramfs); its stid. */
export async function uploadReadOnlyImage(t: TestApp, token: string, gid: string, name: string, payload: Buffer): Promise<string> {
  return (await upload(t, token, { group: gid, name, read_only: 'true' }, payload)).stid;
}

export async function createEfiVm(t: TestApp, token: string, body: Record<string, unknown>): Promise<string> {
  const reply = await t.call({ method: 'PUT', url: '/v/efi', token, body: { cpu_count: 1, memory_size_mb: 256, ...body } });
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  return reply.body.vmid;
}

/** A KBOOT VM (1 CPU, 256 MiB, a serial-console command line unless the body names one); its vmid. */
export async function createKbootVm(t: TestApp, token: string, body: Record<string, unknown>): Promise<string> {
  const reply = await t.call({ method: 'PUT', url: '/v/kboot', token, body: { cpu_count: 1, memory_size_mb: 256, cmdline: 'console=ttyS0 quiet panic=-1', ...body } });
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  return reply.body.vmid;
}

export async function setState(t: TestApp, token: string, vmid: string, state: string, force = false) {
  return t.call({ method: 'POST', url: '/v/state', token, body: { vmid, state, force } });
}

/** Polls GET /v/state until it reports `state` (autostart runs in the background). */
export async function waitForState(t: TestApp, token: string, vmid: string, state: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reply = await t.call({ method: 'GET', url: '/v/state', token, query: { vmid } });
    if (reply.body.state === state) return;
    if (Date.now() > deadline) assert.fail(`VM ${vmid} stayed ${reply.body.state}, expected ${state}`);
    await sleep(50);
  }
}

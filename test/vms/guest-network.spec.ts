import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestApp } from '../support/test-app';
import { createEfiVm, makeVmWorld, setState, VmWorld } from '../support/vm-fixture';

/**
 * port_forwards on VM definitions and ip_addresses in GET /v, through the real HTTP server,
 * the real SQLite file and the sim library over FFI (which validates the forwards it is
 * given and reports the addresses its `sim.guest_addresses` name, so the plumbing from
 * driver to response shows).
 */
describe('guest network: port_forwards and ip_addresses (sim driver)', () => {
  let t: TestApp;
  let w: VmWorld;
  const ssh = (host_port: number, protocol = 'tcp') => ({ protocol, host_port, guest_port: 22 });

  before(async () => {
    t = await TestApp.start();
    w = await makeVmWorld(t, 'guestnet');
  });
  after(() => t.close());

  const put = (body: Record<string, unknown>) =>
    t.call({ method: 'PUT', url: '/v/efi', token: w.owner.token, body: { cpu_count: 1, memory_size_mb: 256, catalog: w.cid, nics: [w.natNic], ...body } });
  const get = (vmid: string) => t.call({ method: 'GET', url: '/v', token: w.owner.token, query: { vmid } });
  const patch = (vmid: string, body: Record<string, unknown>) => t.call({ method: 'PATCH', url: '/v', token: w.owner.token, body: { vmid, ...body } });
  const forwardRows = () => t.dataSource.query('SELECT vmid, protocol, host_port, guest_port FROM vm_port_forwards ORDER BY host_port, protocol');

  it('forwards are stored in order and shown by GET /v and GET /v/list', async () => {
    const created = await put({ name: 'fwd-shown', port_forwards: [ssh(20022), { protocol: 'udp', host_port: '20053', guest_port: '53' }] });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const vm = await get(created.body.vmid);
    assert.deepEqual(vm.body.port_forwards, [ssh(20022), { protocol: 'udp', host_port: 20053, guest_port: 53 }]);
    const list = await t.call({ method: 'GET', url: '/v/list', token: w.owner.token, query: { cid: w.cid } });
    const item = list.body.vms.find((v: { vmid: string }) => v.vmid === created.body.vmid);
    assert.deepEqual(item.port_forwards, vm.body.port_forwards);
    assert.equal(item.ip_addresses, undefined, 'list items do not ask the guest');
    const changed = await patch(created.body.vmid, { cpu_count: 2 });
    assert.deepEqual(changed.body.port_forwards, vm.body.port_forwards, 'a change that does not mention them keeps them');
    const plain = await createEfiVm(t, w.owner.token, { name: 'fwd-none', catalog: w.cid });
    assert.deepEqual((await get(plain)).body.port_forwards, [], 'none by default');
  });

  it('bad ports, protocols and duplicates are 400 and create nothing', async () => {
    const vms = await t.count('vms');
    const rows = (await forwardRows()).length;
    const bad: Array<[unknown, RegExp]> = [
      [[ssh(0)], /host_port/],
      [[ssh(65536)], /host_port/],
      [[ssh(80)], /host_port: must not be less than 1024/],
      [[{ ...ssh(20100), guest_port: 0 }], /guest_port/],
      [[{ ...ssh(20101), guest_port: 70000 }], /guest_port/],
      [[{ ...ssh(20102), protocol: 'sctp' }], /protocol/],
      [[{ ...ssh(20103), host_port: 20103.5 }], /host_port/],
      [[{ protocol: 'tcp', guest_port: 22 }], /host_port/],
      ['22:22', /port_forwards/],
      [[ssh(20104), { ...ssh(20104), guest_port: 80 }], /tcp host port 20104 is listed twice/],
    ];
    for (const [port_forwards, message] of bad) {
      const reply = await put({ name: 'fwd-bad', port_forwards });
      assert.equal(reply.status, 400, `${JSON.stringify(port_forwards)}: ${JSON.stringify(reply.body)}`);
      assert.equal(reply.body.code, 'VALIDATION_FAILED');
      assert.match(reply.body.message, message);
    }
    assert.equal(await t.count('vms'), vms);
    assert.equal((await forwardRows()).length, rows);
  });

  it('forwards without a NAT NIC: 422 PORT_FORWARD_NEEDS_NAT, on create and on a change that drops the NAT NIC', async () => {
    const vms = await t.count('vms');
    const created = await put({ name: 'fwd-no-nat', nics: [], port_forwards: [ssh(20200)] });
    assert.equal(created.status, 422, JSON.stringify(created.body));
    assert.equal(created.body.code, 'PORT_FORWARD_NEEDS_NAT');
    assert.equal(await t.count('vms'), vms);

    const vmid = (await put({ name: 'fwd-drops-nat', port_forwards: [ssh(20201)] })).body.vmid;
    const dropped = await patch(vmid, { nics: [] });
    assert.equal(dropped.status, 422, JSON.stringify(dropped.body));
    assert.equal(dropped.body.code, 'PORT_FORWARD_NEEDS_NAT');
    const after = await get(vmid);
    assert.equal(after.body.nics.length, 1, 'the VM keeps its NAT NIC');
    assert.deepEqual(after.body.port_forwards, [ssh(20201)]);
    const both = await patch(vmid, { nics: [], port_forwards: [] });
    assert.equal(both.status, 200, 'dropping the NIC and the forwards together is fine');
  });

  it('a host port another VM forwards: 409 PORT_FORWARD_TAKEN naming it, and nothing changes', async () => {
    const holder = (await put({ name: 'fwd-holder', port_forwards: [ssh(20300)] })).body.vmid;
    const vms = await t.count('vms');
    const taken = await put({ name: 'fwd-second', port_forwards: [ssh(20301), ssh(20300)] });
    assert.equal(taken.status, 409, JSON.stringify(taken.body));
    assert.deepEqual(
      { code: taken.body.code, vmid: taken.body.vmid, protocol: taken.body.protocol, host_port: taken.body.host_port },
      { code: 'PORT_FORWARD_TAKEN', vmid: holder, protocol: 'tcp', host_port: 20300 },
    );
    assert.match(taken.body.message, new RegExp(holder));
    assert.equal(await t.count('vms'), vms);
    assert.equal(await t.count('vm_port_forwards', 'host_port = 20301'), 0, 'no part of the refused VM is stored');

    const udp = await put({ name: 'fwd-udp', port_forwards: [ssh(20300, 'udp')] });
    assert.equal(udp.status, 200, 'the same port over the other protocol is free');

    const other = (await put({ name: 'fwd-other', port_forwards: [ssh(20302)] })).body.vmid;
    const moved = await patch(other, { cpu_count: 2, port_forwards: [ssh(20300)] });
    assert.equal(moved.status, 409);
    assert.equal(moved.body.vmid, holder);
    const unchanged = await get(other);
    assert.deepEqual([unchanged.body.cpu_count, unchanged.body.port_forwards], [1, [ssh(20302)]]);

    const kept = await patch(holder, { port_forwards: [ssh(20300), ssh(20303)] });
    assert.equal(kept.status, 200, "a VM's own port is no conflict");

    assert.equal((await t.call({ method: 'DELETE', url: '/v', token: w.owner.token, body: { vmid: holder } })).status, 200);
    assert.equal(await t.count('vm_port_forwards', 'vmid = ?', [holder]), 0, 'forwards go with the VM');
    assert.equal((await patch(other, { port_forwards: [ssh(20300)] })).status, 200, 'and the port is free again');
  });

  it('a clone gets no forwards (a host port belongs to one VM) and takes its own with PATCH /v', async () => {
    const source = (await put({ name: 'fwd-source', port_forwards: [ssh(20500)] })).body.vmid;
    const clone = await t.call({ method: 'POST', url: '/v/clone', token: w.owner.token, body: { vmid: source, catalog: w.cid, name: 'fwd-clone' } });
    assert.equal(clone.status, 200, JSON.stringify(clone.body));
    assert.deepEqual(clone.body.port_forwards, []);
    assert.equal((await patch(clone.body.vmid, { port_forwards: [ssh(20500)] })).body.code, 'PORT_FORWARD_TAKEN');
    assert.deepEqual((await patch(clone.body.vmid, { port_forwards: [ssh(20501)] })).body.port_forwards, [ssh(20501)]);
    assert.deepEqual((await get(source)).body.port_forwards, [ssh(20500)]);
  });

  it('concurrent VMs asking for one host port: exactly one gets it, the others 409 naming that one', async () => {
    const replies = await Promise.all(Array.from({ length: 6 }, (_, i) => put({ name: `fwd-race-${i}`, port_forwards: [ssh(20400)] })));
    const winners = replies.filter((r) => r.status === 200);
    assert.equal(winners.length, 1, JSON.stringify(replies.map((r) => [r.status, r.body.code])));
    for (const loser of replies.filter((r) => r.status !== 200)) {
      assert.deepEqual([loser.status, loser.body.code, loser.body.vmid], [409, 'PORT_FORWARD_TAKEN', winners[0].body.vmid]);
    }
    assert.deepEqual(await t.dataSource.query('SELECT vmid FROM vm_port_forwards WHERE host_port = 20400'), [{ vmid: winners[0].body.vmid }]);
    assert.equal(await t.count('vms', "name LIKE 'fwd-race-%'"), 1);
  });

  it('ip_addresses: empty while unknown or not RUNNING; what the driver reports while RUNNING, without loopback and link-local', async () => {
    const quiet = await createEfiVm(t, w.owner.token, { name: 'ip-unknown', catalog: w.cid, nics: [w.natNic] });
    assert.deepEqual((await get(quiet)).body.ip_addresses, []);
    assert.equal((await setState(t, w.owner.token, quiet, 'RUNNING')).status, 200);
    assert.deepEqual((await get(quiet)).body.ip_addresses, [], 'a driver that knows nothing says nothing');

    const reporting = await createEfiVm(t, w.owner.token, {
      name: 'ip-known',
      catalog: w.cid,
      nics: [w.natNic],
      sim: { guest_addresses: ['192.168.64.7', '127.0.0.1', 'fe80::5054:ff:fe12:3456', 'fd00::7', '169.254.3.3'] },
    });
    assert.deepEqual((await get(reporting)).body.ip_addresses, [], 'STOPPED: nothing');
    assert.equal((await setState(t, w.owner.token, reporting, 'RUNNING')).status, 200);
    assert.deepEqual((await get(reporting)).body.ip_addresses, ['192.168.64.7', 'fd00::7']);
    assert.equal((await setState(t, w.owner.token, reporting, 'PAUSED')).status, 200);
    assert.deepEqual((await get(reporting)).body.ip_addresses, [], 'PAUSED: not asked');
    assert.equal((await setState(t, w.owner.token, reporting, 'STOPPED', true)).status, 200);
    assert.deepEqual((await get(reporting)).body.ip_addresses, []);
    assert.equal((await setState(t, w.owner.token, quiet, 'STOPPED', true)).status, 200);

    const badAddress = await put({ name: 'ip-bad', sim: { guest_addresses: ['not-an-address'] } });
    assert.equal(badAddress.status, 400);
  });
});

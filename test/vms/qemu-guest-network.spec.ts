import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, createServer, Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  buildInitramfs,
  closeQemuApp,
  ProcessTracker,
  requireGuestAgent,
  requireKernel,
  requireModules,
  requireQemu,
  VIRTIO_NET_AND_SERIAL_MODULES,
} from '../hypervisor/qemu-fixture';
import { TestApp } from '../support/test-app';
import { createKbootVm, makeVmWorld, setState, uploadReadOnlyImage, VmWorld } from '../support/vm-fixture';
import { sleep } from '../support/wait';

/**
 * Reaching a guest, with real parts: a KBOOT guest (the host's kernel, a busybox initramfs
 * with the host's qemu-ga) takes its address from QEMU's user-mode DHCP with udhcpc and
 * serves a line on TCP port 7777; the test reads that line through a `port_forwards` entry
 * on 127.0.0.1 and sees the address the guest agent reports in GET /v.
 */

const BOOT_MS = 180_000;
const GUEST_PORT = 7777;
const HELLO = 'VELOCITY-GUEST-HELLO';
const QEMU_ENV = { VELOCITY_HYPERVISOR: 'qemu', VELOCITY_QEMU_ACCEL: 'tcg', VELOCITY_STOP_TIMEOUT: '3' };

function init(loader: string): string {
  return `
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mkdir -p /tmp /var/run
for a in $(/bin/busybox cat /proc/cmdline); do case $a in velocity.agent=*) agent=\${a#velocity.agent=};; esac; done
for m in ${VIRTIO_NET_AND_SERIAL_MODULES.map((p) => p.slice(p.lastIndexOf('/') + 1)).join(' ')}; do /bin/busybox insmod /$m; done
/bin/busybox ifconfig lo 127.0.0.1 up
/bin/busybox ifconfig eth0 up
/bin/busybox udhcpc -i eth0 -f -q -n -t 10 -T 1 -s /udhcpc.sh > /dev/ttyS0 2>&1
echo "VELOCITY-NET-UP $(/bin/busybox ip -4 addr show eth0 | /bin/busybox grep -o 'inet [0-9.]*')" > /dev/ttyS0
if [ "$agent" != off ]; then
  for p in /sys/class/virtio-ports/*; do
    [ "$(/bin/busybox cat $p/name)" = org.qemu.guest_agent.0 ] && port=/dev/\${p##*/}
  done
  /${loader} --library-path / /qemu-ga -m virtio-serial -p "$port" -t /tmp > /dev/ttyS0 2>&1 &
fi
while true; do echo ${HELLO} | /bin/busybox nc -l -p ${GUEST_PORT}; done &
echo VELOCITY-SERVING > /dev/ttyS0
while true; do /bin/busybox sleep 3600; done
`;
}

/** busybox udhcpc calls this with the lease in its environment. */
const UDHCPC_SCRIPT = `#!/bin/busybox sh
case "$1" in
  bound|renew)
    /bin/busybox ifconfig "$interface" "$ip" netmask "$subnet" up
    [ -n "$router" ] && /bin/busybox route add default gw "$router"
    ;;
esac
exit 0
`;

/** A TCP port that is free on 127.0.0.1 right now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** One attempt: connect, read until a newline or the end; '' when the guest is not serving yet. */
function readLine(port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const socket = connect(port, '127.0.0.1');
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(text.split('\n')[0]);
    };
    const timer = setTimeout(done, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.includes('\n')) done();
    });
    socket.on('error', done);
    socket.on('close', done);
  });
}

/** Polls the forwarded port until the guest's line comes back; the line. */
async function lineThroughForward(port: number, timeoutMs = BOOT_MS): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = await readLine(port, 2_000);
    if (line !== '') return line;
    if (Date.now() > deadline) assert.fail(`nothing came through 127.0.0.1:${port} within ${timeoutMs} ms`);
    await sleep(100);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

describe('reaching a qemu guest: port_forwards and ip_addresses (TCG)', () => {
  const processes = new ProcessTracker();
  let t: TestApp;
  let w: VmWorld;
  let dataDir: string;
  let kernel: string;
  let initrd: string;
  let blocker: Server | undefined;
  /** The VM of the first test, STOPPED after it. */
  let reachable: string;
  const figures: string[] = [];

  before(async () => {
    requireQemu();
    const kernelPath = requireKernel();
    const agent = requireGuestAgent();
    t = await TestApp.start({ env: QEMU_ENV });
    dataDir = t.config.dataDir;
    w = await makeVmWorld(t, 'reach');
    const upload = (name: string, payload: Buffer) => uploadReadOnlyImage(t, w.owner.token, w.gid, name, payload);
    kernel = await upload('vmlinuz', readFileSync(kernelPath));
    const extra = [
      ...requireModules(kernelPath, VIRTIO_NET_AND_SERIAL_MODULES),
      ...agent.files,
      { name: 'udhcpc.sh', data: Buffer.from(UDHCPC_SCRIPT), mode: 0o100755 },
    ];
    initrd = await upload('initrd.cpio', buildInitramfs(init(agent.loader), extra));
  });

  after(async () => {
    await closeQemuApp(t, dataDir, processes);
    blocker?.close();
    for (const line of figures) console.log(`# ${line}`);
  });

  function kbootVm(name: string, portForwards: unknown[], cmdline = ''): Promise<string> {
    return createKbootVm(t, w.owner.token, {
      name,
      catalog: w.cid,
      kernel,
      initrd,
      nics: [w.natNic],
      port_forwards: portForwards,
      cmdline: `console=ttyS0 quiet panic=-1 ${cmdline}`,
    });
  }

  const consoleTail = async (vmid: string) =>
    (await t.call({ method: 'GET', url: '/v/console', token: w.owner.token, query: { vmid, bytes: '2000' } })).body.output as string;

  const getVm = (vmid: string) => t.call({ method: 'GET', url: '/v', token: w.owner.token, query: { vmid } });

  it('the guest answers on its forwarded port, and GET /v reports the address its agent gives', async () => {
    const hostPort = await freePort();
    const vmid = (reachable = await kbootVm('reachable', [{ protocol: 'tcp', host_port: hostPort, guest_port: GUEST_PORT }]));
    assert.deepEqual((await getVm(vmid)).body.ip_addresses, [], 'STOPPED: unknown');
    const times: number[] = [];
    for (let run = 0; run < 3; run++) {
      const began = Date.now();
      const started = await setState(t, w.owner.token, vmid, 'RUNNING');
      assert.deepEqual([started.status, started.body.state], [200, 'RUNNING'], JSON.stringify(started.body));
      assert.equal(await lineThroughForward(hostPort).catch(async (error) => assert.fail(`${error.message}; console: ${await consoleTail(vmid)}`)), HELLO);
      times.push(Date.now() - began);

      // The agent starts right after the line is served; give it a moment.
      const deadline = Date.now() + 60_000;
      let addresses: string[] = [];
      while (Date.now() < deadline) {
        addresses = (await getVm(vmid)).body.ip_addresses;
        if (addresses.includes('10.0.2.15')) break;
        await sleep(500);
      }
      assert.ok(addresses.includes('10.0.2.15'), `the guest agent's address of the VM's NIC (QEMU user networking's DHCP): ${addresses}; console: ${await consoleTail(vmid)}`);
      // Besides: the SLAAC address in user networking's IPv6 prefix, never loopback or link-local.
      assert.ok(
        addresses.every((a) => a === '10.0.2.15' || a.startsWith('fec0::')),
        `only the NIC's own addresses: ${addresses}`,
      );
      const stopped = await setState(t, w.owner.token, vmid, 'STOPPED', true);
      assert.equal(stopped.status, 200);
      assert.deepEqual((await getVm(vmid)).body.ip_addresses, [], 'STOPPED again: unknown again');
    }
    figures.push(`POST /v/state RUNNING → the guest's line through its forwarded port (KBOOT, TCG): ${times.join(', ')} ms; median ${median(times)} ms`);
  });

  it('a clone of the stopped guest, given its own forward, answers on it', async () => {
    const hostPort = await freePort();
    const began = Date.now();
    const clone = await t.call({ method: 'POST', url: '/v/clone', token: w.owner.token, body: { vmid: reachable, catalog: w.cid, name: 'reachable-clone' } });
    assert.equal(clone.status, 200, JSON.stringify(clone.body));
    const cloned = Date.now() - began;
    const vmid = clone.body.vmid as string;
    const patched = await t.call({
      method: 'PATCH',
      url: '/v',
      token: w.owner.token,
      body: { vmid, port_forwards: [{ protocol: 'tcp', host_port: hostPort, guest_port: GUEST_PORT }] },
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal((await setState(t, w.owner.token, vmid, 'RUNNING')).status, 200);
    assert.equal(await lineThroughForward(hostPort), HELLO);
    figures.push(`POST /v/clone → PATCH its port_forwards → RUNNING → its line through the forward (KBOOT, TCG): ${Date.now() - began} ms (the clone itself ${cloned} ms)`);
    assert.equal((await setState(t, w.owner.token, vmid, 'STOPPED', true)).status, 200);
  });

  it('a guest without an agent: ip_addresses is empty, at once, never a guess', async () => {
    const vmid = await kbootVm('agentless', [], 'velocity.agent=off');
    assert.equal((await setState(t, w.owner.token, vmid, 'RUNNING')).status, 200);
    const deadline = Date.now() + BOOT_MS;
    for (;;) {
      const reply = await t.call({ method: 'GET', url: '/v/console', token: w.owner.token, query: { vmid, bytes: '65536' } });
      if (/VELOCITY-SERVING/.test(reply.body.output)) break;
      if (Date.now() > deadline) assert.fail(`the guest never served: ${reply.body.output.slice(-400)}`);
      await sleep(500);
    }
    const began = Date.now();
    const vm = await getVm(vmid);
    const ms = Date.now() - began;
    assert.deepEqual(vm.body.ip_addresses, []);
    assert.ok(ms < 1_000, `GET /v took ${ms} ms: no waiting on an agent the guest does not run`);
    figures.push(`GET /v of a running guest without an agent: ${ms} ms`);
    assert.equal((await setState(t, w.owner.token, vmid, 'STOPPED', true)).status, 200);
  });

  it('a forwarded host port another process holds: the start fails with a message naming it, the VM stays STOPPED', async () => {
    blocker = createServer();
    await new Promise<void>((resolve) => blocker!.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as { port: number };
    const vmid = await kbootVm('blocked', [{ protocol: 'tcp', host_port: port, guest_port: GUEST_PORT }]);
    const reply = await setState(t, w.owner.token, vmid, 'RUNNING');
    assert.equal(reply.status, 500, JSON.stringify(reply.body));
    assert.equal(reply.body.code, 'HYPERVISOR_FAILURE');
    assert.match(reply.body.message, new RegExp(`host port 127\\.0\\.0\\.1:${port}/tcp, forwarded to guest port ${GUEST_PORT}, is in use by another process`));
    assert.equal(reply.body.state, 'STOPPED');
    assert.equal((await t.call({ method: 'GET', url: '/v/state', token: w.owner.token, query: { vmid } })).body.state, 'STOPPED');
    assert.equal((await t.call({ method: 'GET', url: '/health' })).status, 200, 'the server carries on');
  });
});

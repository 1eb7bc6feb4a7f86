import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { chooseAccelerator, probeKvm } from '../../src/hypervisor/drivers/qemu/qemu-accel';
import { buildQemuArgs, macFor, optValue } from '../../src/hypervisor/drivers/qemu/qemu-command';
import { QemuLimits, validateVmConfig } from '../../src/hypervisor/drivers/qemu/qemu-config';
import { vmFiles } from '../../src/hypervisor/drivers/qemu/qemu-files';
import { detectQemu, listBridgeInterfaces, QemuInstallation } from '../../src/hypervisor/drivers/qemu/qemu-host';
import { VmConfig } from '../../src/hypervisor/hypervisor-driver';
import { HypervisorError } from '../../src/hypervisor/hypervisor.errors';
import { ScratchDir } from '../support/scratch-dir';
import { qemuConfig, requireQemu } from './qemu-fixture';

/** The qemu driver's pure parts: command line, configuration checks, host look-ups, accelerator choice. */

const FIRMWARE = { code: '/fw/CODE.fd', varsTemplate: '/fw/VARS.fd' };
const VM_ID = '0b9f4c1a-3d2e-4f5a-8b6c-7d8e9f0a1b2c';

/** The value following each occurrence of `flag`. */
function values(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1]] : []));
}

describe('qemu command line', () => {
  const dir = new ScratchDir();
  after(() => dir.cleanup());

  /** Every VM has the guest agent's channel; tests about other devices leave it out. */
  const isNotAgent = (device: string) => !/^(virtio-serial-pci|virtserialport),/.test(device);

  function args(overrides: Partial<VmConfig>, arch: 'x86_64' | 'aarch64' = 'x86_64', accelerator: 'kvm' | 'tcg' = 'tcg'): string[] {
    const config = qemuConfig(dir, overrides);
    return buildQemuArgs({ vmId: VM_ID, config, arch, accelerator, files: vmFiles(config.directory), firmware: FIRMWARE });
  }

  it('an EFI VM on x86_64: q35, OVMF code read-only and the per-VM variable store as pflash, no defaults, paused', () => {
    const a = args({ cpu_count: 2, memory_size_mb: 384 });
    for (const flag of ['-nodefaults', '-no-user-config', '-S']) assert.ok(a.includes(flag), flag);
    assert.deepEqual(values(a, '-machine'), ['q35']);
    assert.deepEqual(values(a, '-accel'), ['tcg']);
    assert.deepEqual(values(a, '-cpu'), ['max']);
    assert.deepEqual(values(a, '-smp'), ['2']);
    assert.deepEqual(values(a, '-m'), ['384M']);
    assert.deepEqual(values(a, '-display'), ['none']);
    assert.deepEqual(values(a, '-uuid'), [VM_ID]);
    assert.deepEqual(values(a, '-drive'), [
      'if=pflash,format=raw,unit=0,readonly=on,file=/fw/CODE.fd',
      `if=pflash,format=raw,unit=1,file=${dir.path}/efi-vars.fd`,
    ]);
    assert.deepEqual(values(a, '-pidfile'), [`${dir.path}/qemu.pid`]);
    assert.ok(values(a, '-chardev').includes(`socket,id=qmp,path=${dir.path}/qmp.sock,server=on,wait=off`));
    assert.ok(
      values(a, '-chardev').includes(`pipe,id=serial0,path=${dir.path}/serial,logfile=${dir.path}/console.log,logappend=on`),
    );
    assert.deepEqual(values(a, '-serial'), ['chardev:serial0']);
    assert.ok(!a.includes('-no-shutdown'), 'QEMU exits when the guest powers off');
    assert.ok(values(a, '-chardev').includes(`socket,id=qga0,path=${dir.path}/qga.sock,server=on,wait=off`));
    assert.deepEqual(
      values(a, '-device'),
      ['virtio-serial-pci,id=vserial0', 'virtserialport,bus=vserial0.0,chardev=qga0,name=org.qemu.guest_agent.0'],
      'no display, disk or NIC: only the guest agent channel',
    );
    assert.deepEqual(values(a, '-vnc'), [], 'no display: no VNC server');
  });

  it('KVM uses the host CPU; aarch64 uses the virt machine', () => {
    assert.deepEqual(values(args({}, 'x86_64', 'kvm'), '-cpu'), ['host']);
    const arm = args({}, 'aarch64', 'kvm');
    assert.deepEqual(values(arm, '-machine'), ['virt,gic-version=max']);
    assert.deepEqual(values(arm, '-accel'), ['kvm']);
  });

  it('KBOOT: kernel, initrd and command line; no firmware drives', () => {
    const a = args({ type: 'KBOOT', kboot: { kernel: '/k/vmlinuz', initrd: '/k/initrd', cmdline: 'console=ttyS0 root=/dev/vda ro' } });
    assert.deepEqual(values(a, '-kernel'), ['/k/vmlinuz']);
    assert.deepEqual(values(a, '-initrd'), ['/k/initrd']);
    assert.deepEqual(values(a, '-append'), ['console=ttyS0 root=/dev/vda ro']);
    assert.deepEqual(values(a, '-drive'), []);
    const bare = args({ type: 'KBOOT', kboot: { kernel: '/k/vmlinuz', initrd: null, cmdline: '' } });
    assert.deepEqual(values(bare, '-initrd'), []);
    assert.deepEqual(values(bare, '-append'), []);
  });

  it('disks are virtio-blk on raw images, read-only as configured; commas in paths are escaped', () => {
    const a = args({
      disks: [
        { path: '/img/a.raw', read_only: false },
        { path: '/img/b,c.iso', read_only: true },
      ],
    });
    assert.deepEqual(values(a, '-drive').slice(2), [
      'file=/img/a.raw,format=raw,if=none,id=disk0,readonly=off,discard=unmap',
      'file=/img/b,,c.iso,format=raw,if=none,id=disk1,readonly=on,discard=unmap',
    ]);
    assert.deepEqual(values(a, '-device').filter(isNotAgent), ['virtio-blk-pci,drive=disk0,id=vblk0,bootindex=0', 'virtio-blk-pci,drive=disk1,id=vblk1,bootindex=1']);
    assert.equal(optValue('a,b,,c'), 'a,,b,,,,c');
  });

  it('NICs: NAT as user networking, BRIDGE through the bridge helper, FILEHANDLE as a unix datagram socket; MACs kept', () => {
    const a = args({
      nics: [
        { type: 'NAT', mac: '52:54:00:AA:BB:CC' },
        { type: 'BRIDGE', interface: 'br0', mac: '52:54:00:00:00:02' },
        { type: 'FILEHANDLE', socket: '/run/vmnet.sock' },
      ],
    });
    assert.deepEqual(values(a, '-netdev'), [
      'user,id=net0',
      'bridge,id=net1,br=br0',
      `dgram,id=net2,local.type=unix,local.path=${dir.path}/nic2.sock,remote.type=unix,remote.path=/run/vmnet.sock`,
    ]);
    const mac2 = macFor(VM_ID, 2, { type: 'FILEHANDLE' });
    assert.deepEqual(values(a, '-device').filter(isNotAgent), [
      'virtio-net-pci,netdev=net0,id=nic0,mac=52:54:00:aa:bb:cc,romfile=',
      'virtio-net-pci,netdev=net1,id=nic1,mac=52:54:00:00:00:02,romfile=',
      `virtio-net-pci,netdev=net2,id=nic2,mac=${mac2},romfile=`,
    ]);
    assert.match(mac2, /^52:54:00(:[0-9a-f]{2}){3}$/);
    assert.equal(macFor(VM_ID, 2, { type: 'NAT' }), mac2, 'a derived MAC is stable');
    assert.notEqual(macFor(VM_ID, 3, { type: 'NAT' }), mac2);
  });

  it('port forwards: hostfwd rules on the first NAT NIC only, host side on the given address', () => {
    const a = args({
      nics: [
        { type: 'FILEHANDLE', socket: '/run/vmnet.sock' },
        { type: 'NAT' },
        { type: 'NAT' },
      ],
      port_forwards: [
        { protocol: 'tcp', host_address: '127.0.0.1', host_port: 2222, guest_port: 22 },
        { protocol: 'udp', host_address: '127.0.0.1', host_port: 5353, guest_port: 53 },
      ],
    });
    assert.deepEqual(values(a, '-netdev').slice(1), [
      'user,id=net1,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=udp:127.0.0.1:5353-:53',
      'user,id=net2',
    ]);
  });

  it('displays are virtio-gpu-pci devices with the requested size', () => {
    const a = args({
      displays: [
        { width: 1920, height: 1080 },
        { width: 800, height: 600 },
      ],
    });
    assert.deepEqual(values(a, '-device').filter(isNotAgent), ['virtio-gpu-pci,id=gpu0,xres=1920,yres=1080', 'virtio-gpu-pci,id=gpu1,xres=800,yres=600']);
    assert.deepEqual(values(a, '-display'), ['none']);
    assert.deepEqual(values(a, '-vnc'), [`unix:${dir.path}/vnc.sock,share=force-shared`], 'one VNC server, on a Unix socket in the VM directory');
  });
});

describe('qemu configuration checks', () => {
  const dir = new ScratchDir();
  after(() => dir.cleanup());
  const limits: QemuLimits = {
    maxCpuCount: 4,
    maxMemoryMb: 4096,
    minMemoryMb: 128,
    maxDisplayWidth: 3840,
    maxDisplayHeight: 2160,
    bridgeInterfaces: [{ id: 'br0', name: 'br0', description: 'Linux bridge' }],
    firmware: { code: '/nonexistent/CODE.fd', varsTemplate: '/nonexistent/VARS.fd' },
  };
  const invalid = (pattern: RegExp) => (e: unknown) => e instanceof HypervisorError && e.code === 'INVALID_CONFIG' && pattern.test(e.message);

  it('accepts a bridge the host has, refuses one it has not', () => {
    validateVmConfig(qemuConfig(dir, { nics: [{ type: 'BRIDGE', interface: 'br0' }] }), limits, { images: false, runtime: false });
    assert.throws(
      () => validateVmConfig(qemuConfig(dir, { nics: [{ type: 'BRIDGE', interface: 'eth9' }] }), limits, { images: false, runtime: false }),
      invalid(/nics\[0\]\.interface/),
    );
  });

  it('EFI needs installed firmware; KBOOT needs a kernel', () => {
    assert.throws(() => validateVmConfig(qemuConfig(dir), { ...limits, firmware: undefined }, { images: false, runtime: false }), invalid(/firmware/));
    assert.throws(() => validateVmConfig(qemuConfig(dir), limits, { images: true, runtime: false }), invalid(/EFI firmware \/nonexistent/));
    assert.throws(() => validateVmConfig(qemuConfig(dir, { type: 'KBOOT' }), limits, { images: false, runtime: false }), invalid(/kboot is required/));
  });

  it('a FILEHANDLE NIC needs an existing socket at start, and socket paths must fit sun_path', () => {
    const kboot = { type: 'KBOOT' as const, kboot: { kernel: '/k', initrd: null, cmdline: '' } };
    const notSocket = dir.file('plain');
    writeFileSync(notSocket, '');
    const config = qemuConfig(dir, { ...kboot, nics: [{ type: 'FILEHANDLE', socket: notSocket }] });
    validateVmConfig(config, limits, { images: false, runtime: false });
    config.kboot!.kernel = notSocket; // any regular file
    assert.throws(() => validateVmConfig(config, limits, { images: true, runtime: true }), invalid(/nics\[0\]\.socket .* is not a socket/));
    const long = `/${'x'.repeat(120)}.sock`;
    assert.throws(
      () => validateVmConfig(qemuConfig(dir, { ...kboot, nics: [{ type: 'FILEHANDLE', socket: long }] }), limits, { images: false, runtime: false }),
      invalid(/longer than the 107 bytes/),
    );
    const deep = `${dir.path}/${'d'.repeat(100)}`;
    mkdirSync(deep);
    assert.throws(() => validateVmConfig(qemuConfig(dir, { ...kboot, directory: deep }), limits, { images: false, runtime: false }), invalid(/QMP socket/));
  });

  it('port forwards need a NAT NIC, an IPv4 host address, ports in range, each host port once', () => {
    const check = (o: Partial<VmConfig>) => () => validateVmConfig(qemuConfig(dir, o), limits, { images: false, runtime: false });
    const ssh = { protocol: 'tcp' as const, host_address: '127.0.0.1', host_port: 2222, guest_port: 22 };
    check({ nics: [{ type: 'NAT' }], port_forwards: [ssh, { ...ssh, protocol: 'udp' }] })();
    assert.throws(check({ nics: [{ type: 'BRIDGE', interface: 'br0' }], port_forwards: [ssh] }), invalid(/need a NAT NIC/));
    assert.throws(check({ nics: [{ type: 'NAT' }], port_forwards: [{ ...ssh, host_address: '127.0.0.1,hostfwd=tcp::1-:1' }] }), invalid(/IPv4/));
    assert.throws(check({ nics: [{ type: 'NAT' }], port_forwards: [{ ...ssh, guest_port: 0 }] }), invalid(/guest_port must be between 1 and 65535/));
    assert.throws(check({ nics: [{ type: 'NAT' }], port_forwards: [ssh, { ...ssh, guest_port: 23 }] }), invalid(/forwarded twice/));
  });

  it('multicast MACs and too many devices are refused', () => {
    const check = (o: Partial<VmConfig>) => () => validateVmConfig(qemuConfig(dir, o), limits, { images: false, runtime: false });
    assert.throws(check({ nics: [{ type: 'NAT', mac: '01:00:5e:00:00:01' }] }), invalid(/multicast/));
    assert.throws(check({ displays: Array.from({ length: 9 }, () => ({ width: 640, height: 480 })) }), invalid(/at most 8 displays/));
    assert.throws(check({ cpu_count: 1.5 }), invalid(/cpu_count must be an integer/));
  });
});

describe('qemu host look-ups', () => {
  const dir = new ScratchDir();
  after(() => dir.cleanup());

  it('bridge interfaces are the Linux bridges in sysfs, named by interface, loopback and taps left out', () => {
    const net = dir.file('net');
    for (const [name, bridge] of [
      ['lo', false],
      ['eth0', false],
      ['br0', true],
      ['virbr0', true],
      ['docker0', true],
      ['tap0', false],
      ['vmbr1', true],
    ] as const) {
      mkdirSync(`${net}/${name}`, { recursive: true });
      if (bridge) mkdirSync(`${net}/${name}/bridge`);
    }
    assert.deepEqual(listBridgeInterfaces(net), [
      { id: 'br0', name: 'br0', description: 'Linux bridge' },
      { id: 'docker0', name: 'docker0', description: 'Linux bridge (Docker)' },
      { id: 'virbr0', name: 'virbr0', description: 'Linux bridge (libvirt)' },
      { id: 'vmbr1', name: 'vmbr1', description: 'Linux bridge' },
    ]);
    assert.deepEqual(listBridgeInterfaces(dir.file('missing')), []);
  });

  it('finds qemu-system-<arch> on PATH, or says what to install', () => {
    const found = detectQemu();
    assert.equal(found.available, true, 'this host has QEMU (CI installs qemu-system-x86)');
    const missing = detectQemu({ PATH: dir.path });
    assert.equal(missing.available, false);
    assert.match(missing.available ? '' : missing.reason, /qemu-system-x86_64 was not found on PATH.*apt-get install qemu-system-x86/);
    const other = detectQemu(process.env, 'riscv64');
    assert.equal(other.available, false);
  });
});

describe('qemu accelerator choice', () => {
  const dir = new ScratchDir();
  after(() => dir.cleanup());
  const installation = (): QemuInstallation => requireQemu();

  it('tcg as told; kvm refused with a clear message when the device is not usable', async () => {
    assert.deepEqual(await chooseAccelerator('tcg', installation()), { accelerator: 'tcg', reason: 'VELOCITY_QEMU_ACCEL=tcg' });
    await assert.rejects(chooseAccelerator('kvm', installation(), { kvmDevice: dir.file('no-kvm') }), /VELOCITY_QEMU_ACCEL=kvm, but .*no-kvm is not usable/);
  });

  it('auto falls back to TCG and says why when there is no KVM device', async () => {
    const choice = await chooseAccelerator('auto', installation(), { kvmDevice: dir.file('no-kvm') });
    assert.equal(choice.accelerator, 'tcg');
    assert.match(choice.reason, /KVM not usable.*no-kvm is not usable \(ENOENT\)/);
  });

  it(
    'the probe runs QEMU under KVM and reports its failure (here: no /dev/kvm at all)',
    { skip: existsSync('/dev/kvm') ? 'this host has /dev/kvm: the failure path cannot be provoked' : false },
    async () => {
      const device = dir.file('fake-kvm');
      writeFileSync(device, ''); // passes the access check; QEMU itself then finds no KVM
      const result = await probeKvm(installation(), { kvmDevice: device, runMs: 200 });
      assert.equal(result.usable, false);
      assert.match(result.usable ? '' : result.reason, /did not start|died|KVM/);
      assert.match(result.usable ? '' : result.reason, /kvm/i, 'the reason quotes QEMU');
    },
  );
});

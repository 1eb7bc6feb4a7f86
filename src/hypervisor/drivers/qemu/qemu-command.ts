import { createHash } from 'node:crypto';
import { Accelerator, VmConfig, VmNicConfig, VmPortForwardConfig } from '../../hypervisor-driver';
import { EfiFirmware, QemuArch } from './qemu-host';
import { QemuVmFiles } from './qemu-files';

export interface QemuCommandInput {
  vmId: string;
  config: VmConfig;
  arch: QemuArch;
  accelerator: Accelerator;
  files: QemuVmFiles;
  /** Required for EFI VMs. */
  firmware?: EfiFirmware;
}

/** Escapes a value for QEMU's option syntax (key=value,…): a comma is written twice. */
export function optValue(value: string): string {
  return value.replace(/,/g, ',,');
}

/** The NIC's MAC, or a stable locally administered one (QEMU's 52:54:00 prefix) derived from the VM id. */
export function macFor(vmId: string, index: number, nic: VmNicConfig): string {
  if (nic.mac) return nic.mac.toLowerCase();
  const h = createHash('sha256').update(`${vmId}/nic${index}`).digest();
  return ['52', '54', '00', ...[h[0], h[1], h[2]].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

/** The chardev id of the guest agent's channel (QMP query-chardev names it). */
export const AGENT_CHARDEV = 'qga0';

/** QEMU's `hostfwd=` rule: the host side on the forward's address only, the guest side on the guest's DHCP address. */
function hostfwd(forward: VmPortForwardConfig): string {
  return `hostfwd=${forward.protocol}:${forward.host_address}:${forward.host_port}-:${forward.guest_port}`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The argument vector of qemu-system-<arch> for one VM. Every device is spelled out
 * (-nodefaults, -no-user-config), the VM starts paused (-S) and is continued over QMP,
 * there is never a window (-display none), and QEMU exits when the guest powers off
 * (no -no-shutdown: the process ending is the VM stopping, whoever caused it).
 */
export function buildQemuArgs(input: QemuCommandInput): string[] {
  const { vmId, config, arch, accelerator, files } = input;
  const args: string[] = [
    '-name',
    `guest=${optValue(config.name)},debug-threads=on`,
    '-nodefaults',
    '-no-user-config',
    '-machine',
    arch === 'x86_64' ? 'q35' : 'virt,gic-version=max',
    '-accel',
    accelerator,
    '-cpu',
    accelerator === 'kvm' ? 'host' : 'max',
    '-smp',
    String(config.cpu_count),
    '-m',
    `${config.memory_size_mb}M`,
    '-display',
    'none',
    '-S',
    '-msg',
    'timestamp=on',
    '-pidfile',
    files.pidFile,
    '-chardev',
    `socket,id=qmp,path=${optValue(files.qmpSocket)},server=on,wait=off`,
    '-mon',
    'chardev=qmp,mode=control',
    // The serial console; see QemuInstance in qemu-instance.ts for why a pipe chardev.
    '-chardev',
    `pipe,id=serial0,path=${optValue(files.serialBase)},logfile=${optValue(config.console.output)},logappend=on`,
    '-serial',
    'chardev:serial0',
    // The guest agent's channel (qemu-ga finds it by this name). Harmless without an agent:
    // the driver asks only once the guest has opened the port.
    '-chardev',
    `socket,id=${AGENT_CHARDEV},path=${optValue(files.agentSocket)},server=on,wait=off`,
    '-device',
    'virtio-serial-pci,id=vserial0',
    '-device',
    `virtserialport,bus=vserial0.0,chardev=${AGENT_CHARDEV},name=org.qemu.guest_agent.0`,
  ];
  if (UUID.test(vmId)) args.push('-uuid', vmId);

  if (config.type === 'EFI') {
    if (!input.firmware) throw new Error('EFI VMs need firmware');
    args.push(
      '-drive',
      `if=pflash,format=raw,unit=0,readonly=on,file=${optValue(input.firmware.code)}`,
      '-drive',
      `if=pflash,format=raw,unit=1,file=${optValue(files.efiVars)}`,
    );
  } else if (config.kboot) {
    args.push('-kernel', config.kboot.kernel);
    if (config.kboot.initrd) args.push('-initrd', config.kboot.initrd);
    if (config.kboot.cmdline) args.push('-append', config.kboot.cmdline);
  }

  config.disks.forEach((disk, i) => {
    // EFI: the firmware tries the disks in their order. KBOOT boots the kernel (which holds
    // boot index 0 itself), so no boot index there.
    const bootindex = config.type === 'EFI' ? `,bootindex=${i}` : '';
    args.push(
      '-drive',
      `file=${optValue(disk.path)},format=raw,if=none,id=disk${i},readonly=${disk.read_only ? 'on' : 'off'},discard=unmap`,
      '-device',
      `virtio-blk-pci,drive=disk${i},id=vblk${i}${bootindex}`,
    );
  });

  const forwardingNic = config.nics.findIndex((nic) => nic.type === 'NAT');
  config.nics.forEach((nic, i) => {
    switch (nic.type) {
      case 'NAT': {
        const forwards = i === forwardingNic ? (config.port_forwards ?? []) : [];
        args.push('-netdev', [`user,id=net${i}`, ...forwards.map(hostfwd)].join(','));
        break;
      }
      case 'BRIDGE':
        // Needs qemu-bridge-helper (setuid root) and "allow <bridge>" in /etc/qemu/bridge.conf.
        args.push('-netdev', `bridge,id=net${i},br=${optValue(nic.interface ?? '')}`);
        break;
      case 'FILEHANDLE':
        // QEMU binds its own end in the VM directory and exchanges datagrams with the socket
        // a host-side program bound (socket_vmnet style).
        args.push(
          '-netdev',
          `dgram,id=net${i},local.type=unix,local.path=${optValue(files.nicSocket(i))},` +
            `remote.type=unix,remote.path=${optValue(nic.socket ?? '')}`,
        );
        break;
    }
    // romfile= : no iPXE option ROM; OVMF brings its own virtio-net driver.
    args.push('-device', `virtio-net-pci,netdev=net${i},id=nic${i},mac=${macFor(vmId, i, nic)},romfile=`);
  });

  // virtio-gpu-pci (not virtio-vga): OVMF's VirtioGpuDxe sets the mode the device reports
  // as preferred (xres × yres), so firmware and screenshots come out at the requested size;
  // with virtio-vga OVMF drives the VGA side through QemuVideoDxe at its own fixed size
  // (1280×800 with Debian's OVMF 2022.11), whatever xres/yres say.
  config.displays.forEach((display, i) => {
    args.push('-device', `virtio-gpu-pci,id=gpu${i},xres=${display.width},yres=${display.height}`);
  });
  // The remote screen: QEMU's VNC server on a Unix socket (no TCP port to guard), showing the
  // first display. force-shared: a viewer asking for exclusive access cannot disconnect the others.
  if (config.displays.length > 0) args.push('-vnc', `unix:${optValue(files.vncSocket)},share=force-shared`);
  return args;
}

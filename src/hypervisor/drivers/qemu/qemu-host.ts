import { accessSync, constants, existsSync, readdirSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { BridgeInterface } from '../../hypervisor-driver';

/**
 * What the qemu driver needs to know about the host: which qemu-system binary, which EFI
 * firmware, which bridges. Pure look-ups, no processes (the KVM probe is in kvm-probe.ts).
 */

export type QemuArch = 'x86_64' | 'aarch64';

/** The guest architecture matching the host's (Node's process.arch), if QEMU supports it here. */
export function hostQemuArch(arch: string = process.arch): QemuArch | undefined {
  if (arch === 'x64') return 'x86_64';
  if (arch === 'arm64') return 'aarch64';
  return undefined;
}

/** A firmware image (read-only code) and the template of its variable store. */
export interface EfiFirmware {
  code: string;
  varsTemplate: string;
}

/**
 * Known (code, vars template) pairs per architecture, first match wins. A code image only
 * works with the variable store of the same build and size, hence pairs.
 * Debian/Ubuntu (ovmf, qemu-efi-aarch64), Fedora (edk2-ovmf, edk2-aarch64), Arch (edk2-ovmf),
 * and the images QEMU ships itself.
 */
export const EFI_FIRMWARE_CANDIDATES: Record<QemuArch, EfiFirmware[]> = {
  x86_64: [
    { code: '/usr/share/OVMF/OVMF_CODE_4M.fd', varsTemplate: '/usr/share/OVMF/OVMF_VARS_4M.fd' },
    { code: '/usr/share/OVMF/OVMF_CODE.fd', varsTemplate: '/usr/share/OVMF/OVMF_VARS.fd' },
    { code: '/usr/share/edk2/ovmf/OVMF_CODE.fd', varsTemplate: '/usr/share/edk2/ovmf/OVMF_VARS.fd' },
    { code: '/usr/share/edk2/x64/OVMF_CODE.4m.fd', varsTemplate: '/usr/share/edk2/x64/OVMF_VARS.4m.fd' },
    { code: '/usr/share/qemu/edk2-x86_64-code.fd', varsTemplate: '/usr/share/qemu/edk2-i386-vars.fd' },
  ],
  aarch64: [
    { code: '/usr/share/AAVMF/AAVMF_CODE.fd', varsTemplate: '/usr/share/AAVMF/AAVMF_VARS.fd' },
    { code: '/usr/share/edk2/aarch64/QEMU_EFI-pflash.raw', varsTemplate: '/usr/share/edk2/aarch64/vars-template-pflash.raw' },
    { code: '/usr/share/qemu/edk2-aarch64-code.fd', varsTemplate: '/usr/share/qemu/edk2-arm-vars.fd' },
  ],
};

function isReadableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first installed firmware pair for `arch`, or undefined. */
export function findEfiFirmware(arch: QemuArch, candidates = EFI_FIRMWARE_CANDIDATES[arch]): EfiFirmware | undefined {
  return candidates.find((f) => isReadableFile(f.code) && isReadableFile(f.varsTemplate));
}

/** Finds an executable on $PATH (like `command -v`). */
export function findOnPath(name: string, path: string = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      if (statSync(candidate).isFile()) {
        accessSync(candidate, constants.X_OK);
        return candidate;
      }
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface QemuInstallation {
  arch: QemuArch;
  /** Absolute path of qemu-system-<arch>. */
  binary: string;
  /** Undefined when no EFI firmware is installed: then only KBOOT VMs can run. */
  firmware?: EfiFirmware;
}

export type QemuDetection = { available: true; installation: QemuInstallation } | { available: false; reason: string };

/** Looks for qemu-system-<host arch> on $PATH and the matching EFI firmware. */
export function detectQemu(env: Record<string, string | undefined> = process.env, arch: string = process.arch): QemuDetection {
  const qemuArch = hostQemuArch(arch);
  if (!qemuArch) return { available: false, reason: `no QEMU system emulator for host architecture ${arch}` };
  const name = `qemu-system-${qemuArch}`;
  const binary = findOnPath(name, env.PATH ?? '');
  if (!binary) {
    const pkg = qemuArch === 'x86_64' ? 'qemu-system-x86' : 'qemu-system-arm';
    return { available: false, reason: `${name} was not found on PATH (Debian/Ubuntu: apt-get install ${pkg})` };
  }
  return { available: true, installation: { arch: qemuArch, binary, firmware: findEfiFirmware(qemuArch) } };
}

/** Names of virtual devices that are not bridges to the outside world. */
const NON_BRIDGE_PREFIXES = ['lo', 'veth', 'tap', 'tun', 'ifb', 'dummy', 'vnet'];

/**
 * The host's Linux bridges, from /sys/class/net: the interfaces `-netdev bridge` can attach a
 * VM to (through qemu-bridge-helper). A physical NIC cannot take a VM directly; the operator
 * enslaves it to a bridge (br0, vmbr0 …), as with libvirt or Proxmox. The id is the interface
 * name, which is what stays stable across restarts.
 */
export function listBridgeInterfaces(sysClassNet = '/sys/class/net'): BridgeInterface[] {
  let names: string[];
  try {
    names = readdirSync(sysClassNet);
  } catch {
    return [];
  }
  return names
    .filter((name) => !NON_BRIDGE_PREFIXES.some((p) => name.startsWith(p)))
    .filter((name) => existsSync(join(sysClassNet, name, 'bridge')))
    .sort()
    .map((name) => ({ id: name, name, description: describeBridge(name) }));
}

function describeBridge(name: string): string {
  if (name.startsWith('docker') || name.startsWith('br-')) return 'Linux bridge (Docker)';
  if (name.startsWith('virbr')) return 'Linux bridge (libvirt)';
  if (name.startsWith('lxcbr') || name.startsWith('lxdbr')) return 'Linux bridge (LXC)';
  return 'Linux bridge';
}

import { accessSync, constants, statSync, Stats } from 'node:fs';
import { isIPv4 } from 'node:net';
import { dirname, isAbsolute } from 'node:path';
import { BridgeInterface, VmConfig } from '../../hypervisor-driver';
import { HypervisorError, UnsupportedError } from '../../hypervisor.errors';
import { EfiFirmware } from './qemu-host';
import { vmFiles } from './qemu-files';

/** Host limits a configuration is checked against (from the driver's capabilities). */
export interface QemuLimits {
  maxCpuCount: number;
  maxMemoryMb: number;
  minMemoryMb: number;
  maxDisplayWidth: number;
  maxDisplayHeight: number;
  bridgeInterfaces: BridgeInterface[];
  /** Undefined: no EFI firmware installed, EFI VMs are refused. */
  firmware?: EfiFirmware;
}

export const MIN_DISPLAY_SIDE = 64;
export const MAX_DISPLAYS = 8;
export const MAX_DISKS = 16;
export const MAX_NICS = 8;
/** sun_path holds 108 bytes including the terminating NUL. */
const MAX_UNIX_SOCKET_PATH = 107;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

function invalid(message: string): HypervisorError {
  return new HypervisorError('INVALID_CONFIG', message);
}

function statOf(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

function integerIn(value: unknown, label: string, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw invalid(`${label} must be an integer, got ${JSON.stringify(value)}`);
  if (value < min || value > max) throw invalid(`${label} must be between ${min} and ${max}, got ${value}`);
}

function absolutePath(value: unknown, label: string): string {
  if (typeof value !== 'string' || value === '') throw invalid(`${label} is required`);
  if (!isAbsolute(value)) throw invalid(`${label} must be an absolute path, got "${value}"`);
  if (value.includes('\0')) throw invalid(`${label} must not contain NUL bytes`);
  return value;
}

function socketPath(path: string, label: string): void {
  if (Buffer.byteLength(path) > MAX_UNIX_SOCKET_PATH) {
    throw invalid(`${label} ${path} is longer than the ${MAX_UNIX_SOCKET_PATH} bytes a Unix socket path may have`);
  }
}

/** A regular file that this process (and so QEMU, which runs as the same user) can open. */
function regularFile(path: string, label: string, writable = false): void {
  const st = statOf(path);
  if (!st) throw invalid(`${label} ${path} does not exist`);
  if (!st.isFile()) throw invalid(`${label} ${path} is not a regular file`);
  try {
    accessSync(path, writable ? constants.R_OK | constants.W_OK : constants.R_OK);
  } catch {
    throw invalid(`${label} ${path} is not ${writable ? 'readable and writable' : 'readable'}`);
  }
}

/** Forwards need a NAT NIC (they go on the first one), and each host port+protocol once. */
function validatePortForwards(config: VmConfig): void {
  const forwards = config.port_forwards ?? [];
  if (!Array.isArray(forwards)) throw invalid('port_forwards must be an array');
  if (forwards.length > 0 && !config.nics.some((nic) => nic.type === 'NAT')) {
    throw invalid('port_forwards need a NAT NIC: the forwards go through QEMU user-mode networking');
  }
  const seen = new Set<string>();
  forwards.forEach((f, i) => {
    if (f?.protocol !== 'tcp' && f?.protocol !== 'udp') throw invalid(`port_forwards[${i}].protocol must be tcp or udp`);
    // hostfwd takes a dotted IPv4 address; anything else could smuggle options into -netdev.
    if (typeof f.host_address !== 'string' || !isIPv4(f.host_address)) {
      throw invalid(`port_forwards[${i}].host_address must be an IPv4 address, got ${JSON.stringify(f.host_address)}`);
    }
    integerIn(f.host_port, `port_forwards[${i}].host_port`, 1, 65535);
    integerIn(f.guest_port, `port_forwards[${i}].guest_port`, 1, 65535);
    const key = `${f.protocol}/${f.host_address}:${f.host_port}`;
    if (seen.has(key)) throw invalid(`port_forwards[${i}]: ${key} is forwarded twice`);
    seen.add(key);
  });
}

export interface ValidationOptions {
  /**
   * Check that disk images, kernel, initrd and firmware exist as regular files. create()
   * of a VM whose QEMU process is running skips this: the process has them open already.
   */
  images: boolean;
  /**
   * Also check what must exist only when the VM starts: the console FIFO and the sockets
   * of FILEHANDLE NICs (start() checks them; create() need not).
   */
  runtime: boolean;
}

/**
 * Checks a configuration before any process starts. Throws HypervisorError INVALID_CONFIG
 * (UnsupportedError for MAC guests) with a message naming the field.
 */
export function validateVmConfig(config: VmConfig, limits: QemuLimits, options: ValidationOptions): void {
  if (typeof config !== 'object' || config === null) throw invalid('the configuration must be an object');
  if (typeof config.name !== 'string' || config.name.trim() === '') throw invalid('name is required');
  if (config.type === 'MAC') throw new UnsupportedError('macOS guests (type MAC) are not supported by the qemu driver');
  if (config.type !== 'EFI' && config.type !== 'KBOOT') {
    throw invalid(`type must be EFI, KBOOT or MAC, got ${JSON.stringify(config.type)}`);
  }
  integerIn(config.cpu_count, 'cpu_count', 1, limits.maxCpuCount);
  integerIn(config.memory_size_mb, 'memory_size_mb', limits.minMemoryMb, limits.maxMemoryMb);

  const directory = absolutePath(config.directory, 'directory');
  if (!statOf(directory)?.isDirectory()) throw invalid(`directory "${directory}" does not exist or is not a directory`);
  const files = vmFiles(directory);
  socketPath(files.qmpSocket, 'the QMP socket');
  socketPath(files.agentSocket, 'the guest agent socket');

  if (typeof config.console !== 'object' || config.console === null) throw invalid('console is required');
  const output = absolutePath(config.console.output, 'console.output');
  const input = absolutePath(config.console.input, 'console.input');
  if (!statOf(dirname(output))?.isDirectory()) throw invalid(`console.output: directory ${dirname(output)} does not exist`);

  if (!Array.isArray(config.disks)) throw invalid('disks must be an array');
  if (config.disks.length > MAX_DISKS) throw invalid(`at most ${MAX_DISKS} disks are supported, got ${config.disks.length}`);
  config.disks.forEach((disk, i) => {
    absolutePath(disk?.path, `disks[${i}].path`);
    if (typeof disk.read_only !== 'boolean') throw invalid(`disks[${i}].read_only must be a boolean`);
  });

  if (!Array.isArray(config.nics)) throw invalid('nics must be an array');
  if (config.nics.length > MAX_NICS) throw invalid(`at most ${MAX_NICS} NICs are supported, got ${config.nics.length}`);
  config.nics.forEach((nic, i) => {
    if (nic?.mac !== undefined && nic.mac !== null) {
      if (typeof nic.mac !== 'string' || !MAC.test(nic.mac)) {
        throw invalid(`nics[${i}].mac must look like 52:54:00:12:34:56, got ${JSON.stringify(nic.mac)}`);
      }
      if (parseInt(nic.mac.slice(0, 2), 16) & 1) throw invalid(`nics[${i}].mac ${nic.mac} is a multicast address`);
    }
    switch (nic?.type) {
      case 'NAT':
        break;
      case 'BRIDGE':
        if (typeof nic.interface !== 'string' || !limits.bridgeInterfaces.some((b) => b.id === nic.interface)) {
          throw invalid(`nics[${i}].interface: ${JSON.stringify(nic.interface)} is not a bridge interface of this host`);
        }
        break;
      case 'FILEHANDLE': {
        const socket = absolutePath(nic.socket, `nics[${i}].socket`);
        socketPath(socket, `nics[${i}].socket`);
        socketPath(files.nicSocket(i), `the local socket of nics[${i}]`);
        break;
      }
      default:
        throw invalid(`nics[${i}].type must be NAT, BRIDGE or FILEHANDLE, got ${JSON.stringify(nic?.type)}`);
    }
  });

  validatePortForwards(config);

  if (!Array.isArray(config.displays)) throw invalid('displays must be an array');
  if (config.displays.length > MAX_DISPLAYS) {
    throw invalid(`at most ${MAX_DISPLAYS} displays are supported, got ${config.displays.length}`);
  }
  config.displays.forEach((d, i) => {
    integerIn(d?.width, `displays[${i}].width`, MIN_DISPLAY_SIDE, limits.maxDisplayWidth);
    integerIn(d?.height, `displays[${i}].height`, MIN_DISPLAY_SIDE, limits.maxDisplayHeight);
  });

  if (config.type === 'KBOOT') {
    if (typeof config.kboot !== 'object' || config.kboot === null) throw invalid('kboot is required for type KBOOT');
    absolutePath(config.kboot.kernel, 'kboot.kernel');
    if (config.kboot.initrd !== null && config.kboot.initrd !== undefined) absolutePath(config.kboot.initrd, 'kboot.initrd');
    if (config.kboot.cmdline !== undefined && typeof config.kboot.cmdline !== 'string') {
      throw invalid('kboot.cmdline must be a string');
    }
  } else if (!limits.firmware) {
    throw invalid('EFI VMs need UEFI firmware (OVMF/AAVMF), which is not installed on this host');
  }

  if (!options.images) return;

  config.disks.forEach((disk, i) => regularFile(disk.path, `disks[${i}]: image`, !disk.read_only));
  if (config.type === 'KBOOT' && config.kboot) {
    regularFile(config.kboot.kernel, 'kboot.kernel: kernel');
    if (config.kboot.initrd) regularFile(config.kboot.initrd, 'kboot.initrd: initrd');
  }
  if (config.type === 'EFI' && limits.firmware) {
    regularFile(limits.firmware.code, 'EFI firmware');
    if (!statOf(files.efiVars)) regularFile(limits.firmware.varsTemplate, 'EFI variable store template');
  }
  if (!options.runtime) return;
  const fifo = statOf(input);
  if (!fifo) throw invalid(`console.input ${input} does not exist (the server creates it as a FIFO)`);
  if (!fifo.isFIFO()) throw invalid(`console.input ${input} is not a FIFO`);
  config.nics.forEach((nic, i) => {
    if (nic.type !== 'FILEHANDLE' || !nic.socket) return;
    if (!statOf(nic.socket)?.isSocket()) throw invalid(`nics[${i}].socket ${nic.socket} is not a socket`);
  });
}

import { Logger } from '@nestjs/common';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { AppConfig, HypervisorChoice } from '../config/app-config';
import { NativeHypervisorDriver } from './drivers/native.driver';
import { detectQemu, QemuDetection } from './drivers/qemu/qemu-host';
import { QemuDriver } from './drivers/qemu/qemu.driver';
import { DriverName, HypervisorDriver } from './hypervisor-driver';
import { DriverUnavailableError } from './hypervisor.errors';

/** The Nest injection token of the server's one opened HypervisorDriver. */
export const HYPERVISOR_DRIVER = Symbol('HypervisorDriver');

const VZ_NOT_BUILT =
  'the vz library is not built (npm install found no Swift toolchain: run xcode-select --install, then npm rebuild)';

export interface DriverSelection {
  driver: DriverName;
  /** Something the operator should know about the choice (logged as a warning). */
  warning?: string;
}

/**
 * Picks the driver for VELOCITY_HYPERVISOR on this platform: `auto` is vz on macOS, qemu on
 * Linux when qemu-system-<host arch> and its UEFI firmware are installed, else the simulator
 * (with a warning). Throws DriverUnavailableError for a driver this host cannot run.
 * `detect` looks for QEMU (injectable for tests); it is only called on Linux. `vzBuilt` says
 * whether the vz library exists (`npm ci` on a Mac without a Swift toolchain skips it).
 */
export function selectDriver(
  choice: HypervisorChoice,
  platform: NodeJS.Platform = process.platform,
  detect: () => QemuDetection = detectQemu,
  vzBuilt: () => boolean = () => existsSync(nativeLibraryPath('vz')),
): DriverSelection {
  switch (choice) {
    case 'auto': {
      if (platform === 'darwin') {
        if (vzBuilt()) return { driver: 'vz' };
        return { driver: 'sim', warning: `VELOCITY_HYPERVISOR=auto: ${VZ_NOT_BUILT}; using the simulator: VMs are simulated, nothing really runs` };
      }
      if (platform !== 'linux') {
        return {
          driver: 'sim',
          warning: `VELOCITY_HYPERVISOR=auto: no real hypervisor driver for ${platform}, using the simulator: VMs are simulated, nothing really runs`,
        };
      }
      const qemu = detect();
      if (qemu.available && qemu.installation.firmware) return { driver: 'qemu' };
      const why = qemu.available
        ? `${qemu.installation.binary} is installed but no UEFI firmware (Debian/Ubuntu: apt-get install ${qemu.installation.arch === 'x86_64' ? 'ovmf' : 'qemu-efi-aarch64'})`
        : qemu.reason;
      return {
        driver: 'sim',
        warning: `VELOCITY_HYPERVISOR=auto: ${why}; using the simulator: VMs are simulated, nothing really runs`,
      };
    }
    case 'vz':
      if (platform !== 'darwin') {
        throw new DriverUnavailableError(
          `VELOCITY_HYPERVISOR=vz needs macOS (Apple's Virtualization.framework); this host is ${platform}`,
        );
      }
      if (!vzBuilt()) throw new DriverUnavailableError(`VELOCITY_HYPERVISOR=vz: ${VZ_NOT_BUILT}`);
      return { driver: 'vz' };
    case 'qemu': {
      if (platform !== 'linux') throw new DriverUnavailableError(`VELOCITY_HYPERVISOR=qemu needs Linux; this host is ${platform}`);
      const qemu = detect();
      if (!qemu.available) throw new DriverUnavailableError(`VELOCITY_HYPERVISOR=qemu: ${qemu.reason}`);
      if (!qemu.installation.firmware) {
        return { driver: 'qemu', warning: 'VELOCITY_HYPERVISOR=qemu: no UEFI firmware (OVMF/AAVMF) is installed: only KBOOT VMs can run' };
      }
      return { driver: 'qemu' };
    }
    case 'sim':
      return { driver: 'sim' };
  }
}

/**
 * Opens the driver VELOCITY_HYPERVISOR selects on this host (see selectDriver), logging
 * what the operator should know about the choice.
 */
export async function openDriver(config: Pick<AppConfig, 'hypervisor' | 'qemuAccel'>): Promise<HypervisorDriver> {
  const { driver, warning } = selectDriver(config.hypervisor);
  if (warning) new Logger('Hypervisor').warn(warning);
  if (driver === 'qemu') return QemuDriver.open({ accel: config.qemuAccel });
  return NativeHypervisorDriver.open(driver, nativeLibraryPath(driver));
}

/** The repository root: the nearest ancestor of `from` holding package.json and native-bridge/. */
export function findRepoRoot(from: string = __dirname): string {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'native-bridge'))) return dir;
    if (dirname(dir) === dir) throw new Error(`cannot find the Velocity repository root above ${from}`);
  }
}

/**
 * Where the native library of `driver` lives: $VELOCITY_NATIVE_LIB when set, else
 * native-bridge/build/libvelocity_<driver>.{so,dylib} in the repository.
 */
export function nativeLibraryPath(
  driver: 'sim' | 'vz',
  env: Record<string, string | undefined> = process.env,
  platform: NodeJS.Platform = process.platform,
): string {
  const override = env.VELOCITY_NATIVE_LIB?.trim();
  if (override) return resolve(override);
  const extension = platform === 'darwin' ? 'dylib' : 'so';
  return join(findRepoRoot(), 'native-bridge', 'build', `libvelocity_${driver}.${extension}`);
}

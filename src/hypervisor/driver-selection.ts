import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { HypervisorChoice } from '../config/app-config';
import { DriverName } from './hypervisor-driver';
import { DriverUnavailableError } from './hypervisor.errors';

export interface DriverSelection {
  driver: DriverName;
  /** Something the operator should know about the choice (logged as a warning). */
  warning?: string;
}

/**
 * Picks the driver for VELOCITY_HYPERVISOR on this platform: `auto` is vz on macOS and
 * the simulator elsewhere (until the qemu driver exists). Throws DriverUnavailableError
 * for a driver this host or this build cannot run.
 */
export function selectDriver(choice: HypervisorChoice, platform: NodeJS.Platform = process.platform): DriverSelection {
  switch (choice) {
    case 'auto':
      if (platform === 'darwin') return { driver: 'vz' };
      return {
        driver: 'sim',
        warning:
          'VELOCITY_HYPERVISOR=auto: no real hypervisor driver for this host yet (the qemu driver is not ' +
          'implemented), using the simulator: VMs are simulated, nothing really runs',
      };
    case 'vz':
      if (platform !== 'darwin') {
        throw new DriverUnavailableError(
          `VELOCITY_HYPERVISOR=vz needs macOS (Apple's Virtualization.framework); this host is ${platform}`,
        );
      }
      return { driver: 'vz' };
    case 'qemu':
      throw new DriverUnavailableError(
        'VELOCITY_HYPERVISOR=qemu: the qemu driver is not implemented yet; use sim (or auto) for now',
      );
    case 'sim':
      return { driver: 'sim' };
  }
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

import * as koffi from 'koffi';

/**
 * The C library, loaded through koffi for the few calls Node does not offer (lseek with
 * SEEK_DATA, mkfifo), on first use, so a host without it fails the feature, not the start.
 */
const LIBC_PATHS: Partial<Record<NodeJS.Platform, string>> = {
  linux: 'libc.so.6',
  darwin: '/usr/lib/libSystem.B.dylib',
};

let loaded: koffi.IKoffiLib | undefined;

export function libc(feature: string): koffi.IKoffiLib {
  if (loaded) return loaded;
  const path = LIBC_PATHS[process.platform];
  if (!path) throw new Error(`${feature} needs the C library, which Velocity binds on Linux and macOS only, not ${process.platform}`);
  loaded = koffi.load(path);
  return loaded;
}

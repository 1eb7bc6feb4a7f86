/**
 * Errors of the hypervisor layer. Drivers throw these; the rest of the server maps them
 * to HTTP answers (HypervisorError → 500 with the message, UnsupportedError → a 4xx
 * naming the host's limit, and so on).
 */

/** The error codes of velocity_hv.h, shared by every driver. */
export const HYPERVISOR_ERROR_CODES = [
  'INVALID_ARGUMENT',
  'INVALID_CONFIG',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'INVALID_STATE',
  'UNSUPPORTED',
  'HYPERVISOR_ERROR',
  'INTERNAL',
] as const;
export type HypervisorErrorCode = (typeof HYPERVISOR_ERROR_CODES)[number];

/** A driver refused or failed an operation; `code` says why, the message is the driver's. */
export class HypervisorError extends Error {
  override readonly name: string = 'HypervisorError';

  constructor(
    readonly code: HypervisorErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** The driver (or this host) cannot do that at all: screenshots, macOS guests, Rosetta … */
export class UnsupportedError extends HypervisorError {
  override readonly name: string = 'UnsupportedError';

  constructor(message: string) {
    super('UNSUPPORTED', message);
  }
}

/** Builds the right error class for a code a native library reported. */
export function hypervisorError(code: string, message: string): HypervisorError {
  if (code === 'UNSUPPORTED') return new UnsupportedError(message);
  if ((HYPERVISOR_ERROR_CODES as readonly string[]).includes(code)) {
    return new HypervisorError(code as HypervisorErrorCode, message);
  }
  return new HypervisorError('INTERNAL', `${message} (unknown error code ${code})`);
}

/** A native hypervisor library cannot be used (missing, unloadable, wrong ABI). */
export class NativeLibraryError extends Error {
  override readonly name: string = 'NativeLibraryError';

  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

export class NativeLibraryNotFoundError extends NativeLibraryError {
  override readonly name: string = 'NativeLibraryNotFoundError';

  constructor(path: string) {
    super(
      path,
      `native hypervisor library not found at ${path} ` +
        '(run "npm install" or "node native-bridge/build.js" to build it, or set VELOCITY_NATIVE_LIB)',
    );
  }
}

export class AbiMismatchError extends NativeLibraryError {
  override readonly name: string = 'AbiMismatchError';

  constructor(
    path: string,
    readonly expected: number,
    readonly actual: number,
  ) {
    super(
      path,
      `native hypervisor library ${path} has ABI version ${actual}, this server needs ${expected} ` +
        '(rebuild it with "node native-bridge/build.js --force")',
    );
  }
}

/** The configured driver cannot run on this host or does not exist yet. */
export class DriverUnavailableError extends Error {
  override readonly name: string = 'DriverUnavailableError';
}

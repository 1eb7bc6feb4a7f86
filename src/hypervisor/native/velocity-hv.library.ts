import { existsSync, realpathSync } from 'node:fs';
import * as koffi from 'koffi';
import { AbiMismatchError, NativeLibraryError, NativeLibraryNotFoundError } from '../hypervisor.errors';

/**
 * The koffi side of native-bridge/include/velocity_hv.h, and the only file that touches
 * koffi for it (resources/file-data-ranges.ts binds libc's lseek apart): one table of
 * signatures, one place that registers and unregisters the event callback, and every
 * returned string freed by the library's own vhv_free_string.
 */

/** VHV_ABI_VERSION of the header this server was written against. */
export const EXPECTED_ABI_VERSION = 2;

/** Stands for "a JSON string the library allocated" in the table below. */
const OWNED_JSON = Symbol('owned JSON string');
type Signature = readonly [result: koffi.TypeSpec | typeof OWNED_JSON, args: readonly koffi.TypeSpec[]];

/** `void (*vhv_event_callback)(const char *event_json)` */
const EventCallback = koffi.pointer(koffi.proto('void', ['const char *']));

const SIGNATURES = {
  vhv_host_capabilities: [OWNED_JSON, []],
  vhv_set_event_callback: ['int32_t', [EventCallback]],
  vhv_create: [OWNED_JSON, ['const char *', 'const char *']],
  vhv_start: [OWNED_JSON, ['const char *']],
  vhv_pause: [OWNED_JSON, ['const char *']],
  vhv_resume: [OWNED_JSON, ['const char *']],
  vhv_request_stop: [OWNED_JSON, ['const char *']],
  vhv_stop: [OWNED_JSON, ['const char *']],
  vhv_state: [OWNED_JSON, ['const char *']],
  vhv_capture_display: [OWNED_JSON, ['const char *', 'uint32_t', 'const char *']],
  vhv_guest_addresses: [OWNED_JSON, ['const char *']],
  vhv_destroy: [OWNED_JSON, ['const char *']],
} as const satisfies Record<string, Signature>;

/** The native functions, typed. Strings come back already copied and freed (null: out of memory). */
export interface VelocityHvFunctions {
  vhv_host_capabilities(): string | null;
  vhv_create(vmId: string, configJson: string): string | null;
  vhv_start(vmId: string): string | null;
  vhv_pause(vmId: string): string | null;
  vhv_resume(vmId: string): string | null;
  vhv_request_stop(vmId: string): string | null;
  vhv_stop(vmId: string): string | null;
  vhv_state(vmId: string): string | null;
  vhv_capture_display(vmId: string, displayIndex: number, path: string): string | null;
  vhv_guest_addresses(vmId: string): string | null;
  vhv_destroy(vmId: string): string | null;
}

export type EventListener = (eventJson: string) => void;

/** A loaded library: its functions and its one event callback slot. */
export interface VelocityHvLibrary {
  readonly path: string;
  readonly abiVersion: number;
  readonly fn: VelocityHvFunctions;
  /** Adds a listener for raw event JSON (called on the JS thread; must return fast). */
  addEventListener(listener: EventListener): void;
  /** Removes it; the last removal unregisters the native callback (see EventCallbackSlot). */
  removeEventListener(listener: EventListener): Promise<void>;
}

type KoffiFunction = ReturnType<koffi.IKoffiLib['func']>;

/**
 * The library's callback slot. One koffi callback is registered per library while any
 * listener exists; it only hands the JSON (koffi already copied it into a JS string) to
 * the listeners. Unregistering calls vhv_set_event_callback(NULL) with koffi's .async,
 * on a libuv worker: the library waits there for a callback in progress, which needs
 * the JS thread free to run it; only then is the koffi callback unregistered.
 */
class EventCallbackSlot {
  private readonly listeners = new Set<EventListener>();
  private registered: koffi.IKoffiRegisteredCallback | null = null;
  private installed = false;
  private unregistering: Promise<void> | null = null;

  constructor(
    private readonly path: string,
    private readonly setCallback: KoffiFunction,
  ) {}

  add(listener: EventListener): void {
    this.listeners.add(listener);
    this.registered ??= koffi.register((json: string) => this.dispatch(json), EventCallback);
    // While an unregistration is under way, its completion re-installs the callback.
    if (!this.installed && !this.unregistering) this.install();
  }

  remove(listener: EventListener): Promise<void> {
    this.listeners.delete(listener);
    if (this.listeners.size > 0) return Promise.resolve();
    this.unregistering ??= this.uninstall().finally(() => {
      this.unregistering = null;
    });
    return this.unregistering;
  }

  private install(): void {
    if (this.setCallback(this.registered) !== 0) {
      throw new NativeLibraryError(this.path, `${this.path}: the native hypervisor library could not start its event thread`);
    }
    this.installed = true;
  }

  private async uninstall(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.setCallback.async(null, (err: unknown) => (err ? reject(err) : resolve()));
    });
    this.installed = false;
    if (this.listeners.size > 0) {
      this.install();
    } else if (this.registered) {
      koffi.unregister(this.registered);
      this.registered = null;
    }
  }

  private dispatch(json: string): void {
    for (const listener of this.listeners) {
      try {
        listener(json);
      } catch {
        // A listener only queues the text; nothing may escape into the native thread.
      }
    }
  }
}

/** Loaded libraries by real path: koffi (dlopen) loads a file once, and its callback slot is global. */
const loaded = new Map<string, VelocityHvLibrary>();

/**
 * Loads the library at `path` (once per file), checks its ABI version and binds the
 * signature table. Throws NativeLibraryNotFoundError, AbiMismatchError or NativeLibraryError.
 */
export function loadVelocityHvLibrary(path: string): VelocityHvLibrary {
  if (!existsSync(path)) throw new NativeLibraryNotFoundError(path);
  const realPath = realpathSync(path);
  const cached = loaded.get(realPath);
  if (cached) return cached;

  let lib: koffi.IKoffiLib;
  try {
    lib = koffi.load(realPath);
  } catch (err) {
    throw new NativeLibraryError(path, `cannot load native hypervisor library ${path}: ${(err as Error).message}`);
  }
  let abiVersion: number;
  try {
    abiVersion = lib.func('vhv_abi_version', 'int32_t', [])() as number;
  } catch (err) {
    lib.unload();
    throw new NativeLibraryError(path, `${path} is not a Velocity hypervisor library: ${(err as Error).message}`);
  }
  if (abiVersion !== EXPECTED_ABI_VERSION) {
    lib.unload(); // safe: vhv_abi_version starts no threads
    throw new AbiMismatchError(path, EXPECTED_ABI_VERSION, abiVersion);
  }

  const freeString = lib.func('vhv_free_string', 'void', ['void *']);
  // Copies the string into JS, then calls vhv_free_string on the native pointer.
  const ownedJson = koffi.disposable('const char *', freeString);
  const bound: Record<string, KoffiFunction> = {};
  try {
    for (const [name, [result, args]] of Object.entries(SIGNATURES) as [string, Signature][]) {
      bound[name] = lib.func(name, result === OWNED_JSON ? ownedJson : result, [...args]);
    }
  } catch (err) {
    throw new NativeLibraryError(path, `${path} lacks a velocity_hv.h function: ${(err as Error).message}`);
  }
  const slot = new EventCallbackSlot(realPath, bound.vhv_set_event_callback);
  const library: VelocityHvLibrary = {
    path: realPath,
    abiVersion,
    fn: bound as unknown as VelocityHvFunctions,
    addEventListener: (listener) => slot.add(listener),
    removeEventListener: (listener) => slot.remove(listener),
  };
  // Never unloaded once bound: the library's threads run its code for the life of the process.
  loaded.set(realPath, library);
  return library;
}

import { CapturedFrame, HostCapabilities, VmConfig, VmOperation, VmState } from '../hypervisor-driver';
import { HypervisorError, hypervisorError } from '../hypervisor.errors';
import { loadVelocityHvLibrary, VelocityHvFunctions, VelocityHvLibrary } from './velocity-hv.library';

/** Events as the native library sends them (velocity_hv.h, "Events"). */
export interface NativeStateEvent {
  type: 'state';
  seq: number;
  vm_id: string;
  state: VmState;
  /** sim only: OS id of the thread that called back. */
  thread?: number;
}

export interface NativeOpEvent {
  type: 'op';
  seq: number;
  vm_id: string;
  op_id: number;
  op: VmOperation;
  ok: boolean;
  error?: { code: string; message: string };
  thread?: number;
}

export interface NativeErrorEvent {
  type: 'error';
  seq: number;
  vm_id: string;
  error: { code: string; message: string };
  thread?: number;
}

export type NativeEvent = NativeStateEvent | NativeOpEvent | NativeErrorEvent;

/** One NIC in vhv_guest_addresses' result. */
export interface NativeNicAddresses {
  mac: string | null;
  ip_addresses: string[];
}

type Envelope<T> = { ok: true; result: T } | { ok: false; error: { code: string; message: string } };

const OPERATIONS: Record<VmOperation, keyof VelocityHvFunctions> = {
  start: 'vhv_start',
  pause: 'vhv_pause',
  resume: 'vhv_resume',
  request_stop: 'vhv_request_stop',
  stop: 'vhv_stop',
};

/**
 * A typed, koffi-free view of one native hypervisor library (sim or vz): JSON envelopes
 * become return values or HypervisorErrors, and events from the library's thread become
 * calls of the listeners given to onEvent, on the JS thread, one event loop turn later.
 * Several bindings may share a library; each sees every event.
 */
export class NativeHypervisorBinding {
  private readonly listeners = new Set<(event: NativeEvent) => void>();
  /** Raw event texts recorded by the callback, not yet handed on. */
  private queue: string[] = [];
  private flushScheduled = false;
  private closed = false;
  private readonly onNativeEvent = (json: string): void => {
    // Runs while the library's event thread waits for it: record and return.
    this.queue.push(json);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  };

  private constructor(private readonly lib: VelocityHvLibrary) {
    lib.addEventListener(this.onNativeEvent);
  }

  /** Loads (once per file) and checks the library: NativeLibraryNotFoundError, AbiMismatchError … */
  static load(path: string): NativeHypervisorBinding {
    return new NativeHypervisorBinding(loadVelocityHvLibrary(path));
  }

  get path(): string {
    return this.lib.path;
  }

  get abiVersion(): number {
    return this.lib.abiVersion;
  }

  /** Adds an event listener; returns a function that removes it. */
  onEvent(listener: (event: NativeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  hostCapabilities(): HostCapabilities {
    return this.call((fn) => fn.vhv_host_capabilities());
  }

  create(vmId: string, config: VmConfig): VmState {
    return this.call<{ state: VmState }>((fn) => fn.vhv_create(vmId, JSON.stringify(config))).state;
  }

  /** Requests an operation; returns its op_id. Completion arrives as an op event. */
  operate(vmId: string, op: VmOperation): number {
    const name = OPERATIONS[op];
    return this.call<{ op_id: number }>((fn) => (fn[name] as (id: string) => string | null)(vmId)).op_id;
  }

  state(vmId: string): VmState {
    return this.call<{ state: VmState }>((fn) => fn.vhv_state(vmId)).state;
  }

  /** Writes the frame as binary PPM to `ppmPath`. */
  captureDisplay(vmId: string, index: number, ppmPath: string): CapturedFrame & { format: string } {
    if (!Number.isInteger(index) || index < 0 || index > 0xffffffff) {
      throw new HypervisorError('INVALID_ARGUMENT', `display index must be a non-negative integer, got ${index}`);
    }
    return this.call((fn) => fn.vhv_capture_display(vmId, index, ppmPath));
  }

  /** Per NIC, the MAC in use and the addresses the library itself knows. */
  guestAddresses(vmId: string): NativeNicAddresses[] {
    return this.call<{ nics: NativeNicAddresses[] }>((fn) => fn.vhv_guest_addresses(vmId)).nics;
  }

  destroy(vmId: string): void {
    this.call((fn) => fn.vhv_destroy(vmId));
  }

  /**
   * Stops listening. Resolves once this binding's callback can no longer be called (for
   * the last binding of a library: the native callback is unset and unregistered).
   * Events already recorded are still handed on.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.lib.removeEventListener(this.onNativeEvent);
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const batch = this.queue;
    this.queue = [];
    for (const json of batch) {
      let event: NativeEvent;
      try {
        event = JSON.parse(json) as NativeEvent;
      } catch {
        continue; // the library never sends malformed JSON; nothing sensible to do with it
      }
      for (const listener of this.listeners) {
        try {
          listener(event);
        } catch (err) {
          // One faulty listener must neither starve the others nor kill the process.
          process.emitWarning(`hypervisor event listener failed: ${(err as Error).stack ?? String(err)}`);
        }
      }
    }
  };

  private call<T>(invoke: (fn: VelocityHvFunctions) => string | null): T {
    if (this.closed) throw new HypervisorError('INTERNAL', 'the native hypervisor binding is closed');
    const text = invoke(this.lib.fn);
    if (text === null) throw new HypervisorError('INTERNAL', 'the native hypervisor library ran out of memory');
    let envelope: Envelope<T>;
    try {
      envelope = JSON.parse(text) as Envelope<T>;
    } catch {
      throw new HypervisorError('INTERNAL', `the native hypervisor library returned invalid JSON: ${text.slice(0, 200)}`);
    }
    if (envelope.ok) return envelope.result;
    throw hypervisorError(envelope.error.code, envelope.error.message);
  }
}

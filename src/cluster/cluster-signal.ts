import type { AccessChange } from '../common/access-changes';
import type { RelayedVmEvent } from '../vms/events/vm-event';

/** The PostgreSQL channel the nodes of a cluster signal each other on (one per database). */
export const SIGNAL_CHANNEL = 'velocity_signals';

/** NOTIFY refuses a payload of 8000 bytes or more (in the server's encoding, UTF-8 here). */
export const MAX_SIGNAL_BYTES = 7999;

/** What one node tells the others. */
export type ClusterSignal =
  /** A change of who may do what, published there (AccessChanges). */
  | { type: 'access'; change: AccessChange }
  /** A VM event, published there (VmEvents). */
  | { type: 'event'; event: RelayedVmEvent }
  /**
   * The sender could not send everything it should have (its connection broke under a
   * send, or a signal was too large for NOTIFY): the others drop every cache and tell their
   * event streams that events may have been missed.
   */
  | { type: 'missed' };

/** A signal on the wire: JSON with the sending relay's `origin`, so that it can skip its own. */
export type SignalEnvelope = ClusterSignal & { origin: string };

/** The envelope's JSON, or null when it would not fit NOTIFY's payload. */
export function encodeSignal(origin: string, signal: ClusterSignal): string | null {
  const payload = JSON.stringify({ origin, ...signal });
  return Buffer.byteLength(payload, 'utf8') > MAX_SIGNAL_BYTES ? null : payload;
}

/** The envelope in a received payload, or null when it is not one (a newer or broken sender). */
export function decodeSignal(payload: string): SignalEnvelope | null {
  try {
    const envelope = JSON.parse(payload) as SignalEnvelope;
    if (typeof envelope?.origin !== 'string') return null;
    if (envelope.type === 'access' && typeof envelope.change?.kind === 'string') return envelope;
    if (envelope.type === 'event' && typeof envelope.event?.body?.type === 'string' && typeof envelope.event.timestamp === 'string') return envelope;
    if (envelope.type === 'missed') return envelope;
    return null;
  } catch {
    return null;
  }
}

import type { VmState } from '../../hypervisor/hypervisor-driver';

/**
 * Why a VM changed state: `request` (POST /v/state, a forced DELETE /v, autostart), `guest`
 * (the driver reports a change nobody asked for: the guest powered off), `crash` (the same,
 * with a hypervisor error), `reconcile` (what the server found at start).
 */
export type VmEventCause = 'request' | 'guest' | 'crash' | 'reconcile';
export const VM_EVENT_CAUSES: readonly VmEventCause[] = ['request', 'guest', 'crash', 'reconcile'];

/** What happened, before the event log numbers and stamps it. */
export type VmEventBody =
  | { type: 'state'; vmid: string; cid: string; previous: VmState; state: VmState; cause: VmEventCause }
  | { type: 'created'; vmid: string; cid: string; name: string }
  | { type: 'changed'; vmid: string; cid: string; name: string }
  | { type: 'deleted'; vmid: string; cid: string }
  | { type: 'error'; vmid: string; cid: string; last_error: string };

export type VmEventType = VmEventBody['type'];
export const VM_EVENT_TYPES: readonly VmEventType[] = ['state', 'created', 'changed', 'deleted', 'error'];

/** A published event: its body with the id and time the event log gave it. */
export type VmEventData = VmEventBody & { id: number; timestamp: string };

/** An event as it travels between the nodes of a cluster: each node numbers it itself (VmEvents). */
export interface RelayedVmEvent {
  body: VmEventBody;
  /** When it happened, on the node that published it (ISO 8601). */
  timestamp: string;
}

/**
 * One published event as every stream sends it. The Server-Sent Events frame is made once
 * here, so a thousand open streams share one string instead of serializing it a thousand times.
 */
export interface VmEvent {
  readonly id: number;
  readonly cid: string;
  readonly vmid: string;
  readonly data: VmEventData;
  readonly frame: string;
}

export function toVmEvent(body: VmEventBody, id: number, at: Date): VmEvent {
  const data = { id, timestamp: at.toISOString(), ...body } as VmEventData;
  return { id, cid: body.cid, vmid: body.vmid, data, frame: `id: ${id}\nevent: ${body.type}\ndata: ${JSON.stringify(data)}\n\n` };
}

/**
 * Requests another node of the cluster forwarded here (their node-to-node credential checked
 * on arrival), with the address of the client that sent them to that node: the audit log and
 * the access log name the client, not the node in between.
 */
const forwarded = new WeakMap<object, string | undefined>();

export function markForwardedByNode(request: object, clientAddress: string | undefined): void {
  forwarded.set(request, clientAddress);
}

export function isForwardedByNode(request: object): boolean {
  return forwarded.has(request);
}

/** The client's address as the forwarding node saw it; undefined for a request that came straight here. */
export function forwardedClientAddress(request: object): string | undefined {
  return forwarded.get(request);
}

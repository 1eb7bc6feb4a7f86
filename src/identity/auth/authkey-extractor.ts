import type { FastifyRequest } from 'fastify';
import type { IncomingHttpHeaders } from 'node:http';

type Carrier = Record<string, unknown> | undefined | null;

/** What an authkey may travel in: a Fastify request, or a WebSocket upgrade (no body). */
export interface AuthkeyCarrier {
  headers: IncomingHttpHeaders;
  body?: unknown;
  query?: unknown;
}

/**
 * Finds the authkey a request presents: `Authorization: Bearer <key>` (what Swagger UI and
 * generated clients send), else the `authkey` field of the JSON body (the seed's form, on
 * every method), else the `authkey` query parameter (GET without a body).
 */
export function extractAuthkey(request: AuthkeyCarrier): string | undefined {
  const header = request.headers.authorization;
  if (typeof header === 'string') {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (match) return match[1];
  }
  for (const carrier of [request.body as Carrier, request.query as Carrier]) {
    const value = carrier && typeof carrier === 'object' ? carrier.authkey : undefined;
    if (typeof value === 'string' && value.length > 0) return value;
  }
  return undefined;
}

/** Removes the authkey field so DTO validation (which refuses unknown fields) never sees it. */
export function stripAuthkey(request: FastifyRequest): void {
  for (const carrier of [request.body as Carrier, request.query as Carrier]) {
    if (carrier && typeof carrier === 'object' && 'authkey' in carrier) delete carrier.authkey;
  }
}

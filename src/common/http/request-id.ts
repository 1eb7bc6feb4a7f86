import type { IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';
import { ProxyTrust } from './proxy-trust';

/** What a proxy's X-Request-Id may look like: printable, no spaces, short (nginx's ids are 32 hex digits). */
const FORWARDED_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Fastify's genReqId: the X-Request-Id a trusted proxy sent, so one id follows the request
 * through both logs, else a new UUID. A client's own header is ignored: it would let anyone
 * write what they like into our log lines.
 */
export function requestIdFor(trust: ProxyTrust): (request: IncomingMessage) => string {
  return (request) => {
    const forwarded = request.headers['x-request-id'];
    const peer = request.socket.remoteAddress;
    const usable = typeof forwarded === 'string' && FORWARDED_REQUEST_ID.test(forwarded) && peer !== undefined && trust(peer, 0);
    return usable ? forwarded : randomUUID();
  };
}

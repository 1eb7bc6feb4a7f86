import { STATUS_CODES } from 'node:http';
import type { ErrorBody } from '../errors/api-error';

/**
 * An error answered straight onto a socket, where there is no Fastify reply to send it
 * through (Node's parser refused the request; a WebSocket upgrade was refused): the status
 * line, the `{code, message}` body, and `Connection: close`.
 */
export function rawErrorResponse(status: number, body: ErrorBody): string {
  const text = JSON.stringify(body);
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`
  );
}

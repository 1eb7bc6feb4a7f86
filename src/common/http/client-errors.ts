import { Logger } from '@nestjs/common';
import type { Socket } from 'node:net';
import { ERROR_CODES, ErrorCode } from '../errors/error-codes';
import { rawErrorResponse } from './raw-error-response';

const logger = new Logger('HTTP');

/** Node's parser errors that have an answer of their own; any other means malformed HTTP. */
const CLIENT_ERRORS: Record<string, [ErrorCode, string]> = {
  HPE_HEADER_OVERFLOW: ['HEADERS_TOO_LARGE', 'The request headers are larger than the server accepts'],
  ERR_HTTP_REQUEST_TIMEOUT: ['REQUEST_TIMEOUT', 'The request did not arrive in time'],
};

/**
 * Fastify's clientErrorHandler: answers what Node's HTTP parser refused (it never becomes a
 * Fastify request, so neither hooks nor the exception filter see it) in the `{code,
 * message}` shape instead of Fastify's own. Logged at debug, by Node's error code only: the
 * raw bytes may hold an authkey.
 */
export function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  // A reset connection has no one left to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [code, message] = CLIENT_ERRORS[error.code ?? ''] ?? ['REQUEST_REJECTED', 'The request is not valid HTTP'];
  const { status } = ERROR_CODES[code];
  logger.debug(`client error ${error.code ?? error.message}: ${status} ${code}`);
  if (socket.writable) socket.write(rawErrorResponse(status, { code, message }));
  socket.destroy(error);
}

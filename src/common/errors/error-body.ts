import { HttpException, HttpStatus } from '@nestjs/common';
import { ApiError, ErrorBody } from './api-error';
import { ErrorCode } from './error-codes';

export interface MappedError {
  status: number;
  body: ErrorBody;
  /** True when the failure was not an expected one and must be logged with its stack. */
  unexpected: boolean;
}

/** Fastify's own errors (body parsing, limits) carry a code and a statusCode. */
interface FastifyLikeError {
  code?: string;
  statusCode?: number;
  message?: string;
}

const NOT_JSON = 'The request body is not valid JSON';
const NOT_JSON_TYPE = 'Unsupported content type; send application/json';

const FASTIFY_CODES: Record<string, [ErrorCode, string]> = {
  FST_ERR_CTP_INVALID_JSON_BODY: ['MALFORMED_BODY', NOT_JSON],
  FST_ERR_CTP_EMPTY_JSON_BODY: ['MALFORMED_BODY', NOT_JSON],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ['MALFORMED_BODY', NOT_JSON],
  FST_ERR_CTP_BODY_TOO_LARGE: ['BODY_TOO_LARGE', 'The request body is too large'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ['UNSUPPORTED_MEDIA_TYPE', NOT_JSON_TYPE],
  FST_ERR_CTP_INVALID_TYPE: ['UNSUPPORTED_MEDIA_TYPE', NOT_JSON_TYPE],
  // Raised before routing (Fastify's frameworkErrors), so Nest never sees it.
  FST_ERR_BAD_URL: ['REQUEST_REJECTED', 'The URL is not valid (a bad percent-encoding)'],
};

/** A filesystem out of space or quota: the host's condition, not the request's fault. */
const OUT_OF_SPACE = new Set(['ENOSPC', 'EDQUOT']);

const HTTP_STATUS_CODES: Record<number, ErrorCode> = {
  [HttpStatus.BAD_REQUEST]: 'MALFORMED_BODY',
  [HttpStatus.UNAUTHORIZED]: 'AUTH_REQUIRED',
  [HttpStatus.NOT_FOUND]: 'NOT_FOUND',
  [HttpStatus.PAYLOAD_TOO_LARGE]: 'BODY_TOO_LARGE',
  [HttpStatus.UNSUPPORTED_MEDIA_TYPE]: 'UNSUPPORTED_MEDIA_TYPE',
};

function body(code: ErrorCode, message: string, extras = {}): ErrorBody {
  return { code, message, ...extras };
}

/**
 * Turns anything thrown while handling a request into the `{code, message}` body and its
 * status, so every error response has the same shape and none carries a stack trace or SQL.
 * Its callers are the global exception filter (every HTTP error) and the console gateway
 * (refused WebSocket upgrades, failed writes). Fastify's own errors (body parsing, limits)
 * reach the filter too: Nest sets Fastify's error handler and turns them into HttpExceptions
 * with Fastify's status and message on the way.
 */
export function mapError(error: unknown): MappedError {
  if (error instanceof ApiError) {
    return { status: error.status, body: body(error.code, error.message, error.extras), unexpected: false };
  }
  if (error instanceof HttpException) {
    // Nest raises these for requests that never reached a handler (unknown route, body
    // parsing); handlers themselves throw ApiError.
    const status = error.getStatus();
    const code = HTTP_STATUS_CODES[status];
    if (code) return { status, body: body(code, error.message), unexpected: false };
    if (status < 500) return { status, body: body('REQUEST_REJECTED', error.message), unexpected: false };
  }
  const fastify = error as FastifyLikeError;
  if (typeof fastify?.code === 'string' && fastify.code in FASTIFY_CODES) {
    const [code, message] = FASTIFY_CODES[fastify.code];
    return { status: fastify.statusCode ?? 400, body: body(code, message), unexpected: false };
  }
  if (OUT_OF_SPACE.has((error as NodeJS.ErrnoException)?.code ?? '')) {
    // Logged like an unexpected failure: the operator has to act on it.
    return { status: 507, body: body('HOST_STORAGE_FULL', 'The host has no space left for this request; nothing was kept'), unexpected: true };
  }
  return {
    status: 500,
    body: body('INTERNAL_ERROR', 'Internal server error'),
    unexpected: true,
  };
}

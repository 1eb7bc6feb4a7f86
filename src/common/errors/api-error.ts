import { ERROR_CODES, ErrorCode } from './error-codes';

/** Extra fields the seed adds to some error bodies (vmid, type, rid, req_state …). */
export type ErrorExtras = Record<string, string | number | boolean | null>;

/**
 * The one exception type services throw for an expected failure. Its status comes from
 * the code's entry in ERROR_CODES, so a code always answers with the same status.
 */
export class ApiError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly extras: ErrorExtras = {},
    /** Sent as `Retry-After` (429, 503): when the client may try again. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.status = ERROR_CODES[code].status;
  }
}

export interface ErrorBody extends ErrorExtras {
  code: string;
  message: string;
}

/** The answer to anything that arrives while the server is shutting down (HTTP and WebSocket alike). */
export function shuttingDown(): ApiError {
  return new ApiError('SERVICE_UNAVAILABLE', 'The server is shutting down; retry on another instance or after it restarts');
}

/**
 * What `velocity` exits with. Scripts branch on these; README.md (*SDK and CLI*) lists them.
 */
export const ExitCode = {
  OK: 0,
  /** A bad command line: unknown command or option, a missing or malformed argument. */
  USAGE: 1,
  /** Not logged in, wrong credentials, an expired authkey, or no permission (401/403). */
  AUTH: 2,
  /** The VM, catalog, storage, group… does not exist or is not visible to you (404). */
  NOT_FOUND: 3,
  /** The request clashes with the current state: a name taken, a VM not stopped, a resource in use (409, or a state change the VM cannot make). */
  CONFLICT: 4,
  /** The server failed (5xx) or answered something that is not Velocity's `{code, message}`. */
  SERVER: 5,
  /** The server rejected the request's content (400, 413, 415, 422, 429, 507). */
  REJECTED: 6,
  /** No answer: the server cannot be reached at the URL. */
  UNREACHABLE: 7,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** The exit code for an HTTP error answer. */
export function exitCodeForStatus(status: number, code: string | undefined): ExitCode {
  // 403 means "you may not" except for a state change the VM cannot make from where it is.
  if (code === 'STATE_CHANGE_NOT_ALLOWED') return ExitCode.CONFLICT;
  if (status === 401 || status === 403) return ExitCode.AUTH;
  if (status === 404) return ExitCode.NOT_FOUND;
  if (status === 409) return ExitCode.CONFLICT;
  if (status >= 500 && status !== 507) return ExitCode.SERVER;
  return ExitCode.REJECTED;
}

/** An error that ends the command with `exitCode` and a message on stderr. */
export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
    /** The server's error code, when the server said no. */
    readonly code?: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

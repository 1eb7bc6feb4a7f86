import { CliError, exitCodeForStatus, ExitCode } from './exit-codes';

/** What every generated SDK function resolves with (without `throwOnError`). */
export type SdkResult<T> = ({ data: T; error: undefined } | { data: undefined; error: unknown }) & { response: Response };

interface ErrorBody {
  code: string;
  message: string;
}

function isErrorBody(body: unknown): body is ErrorBody {
  return typeof body === 'object' && body !== null && typeof (body as ErrorBody).code === 'string' && typeof (body as ErrorBody).message === 'string';
}

/**
 * The answer of an SDK call and its HTTP status, or a CliError carrying the server's `code`
 * and `message` and the exit code they mean.
 */
export async function callWithStatus<T>(pending: Promise<SdkResult<T>>, url: string): Promise<{ data: T; status: number }> {
  const result = await pending;
  // The SDK resolves with no response when fetch itself failed (refused, DNS, TLS…).
  if (!result.response) {
    const cause = (result.error as { cause?: { code?: string; message?: string } } | undefined)?.cause;
    throw new CliError(ExitCode.UNREACHABLE, `cannot reach the server at ${url}: ${cause?.code ?? cause?.message ?? String(result.error)}`);
  }
  const status = result.response.status;
  if (result.response.ok && result.data !== undefined) return { data: result.data, status };
  if (isErrorBody(result.error)) {
    throw new CliError(exitCodeForStatus(status, result.error.code), result.error.message, result.error.code, status);
  }
  // Not Velocity's answer: a proxy's error page, a wrong URL.
  const text = typeof result.error === 'string' ? result.error.slice(0, 200).trim() : JSON.stringify(result.error);
  throw new CliError(status >= 500 ? ExitCode.SERVER : exitCodeForStatus(status, undefined), `HTTP ${status} from ${url}, not a Velocity error: ${text}`, undefined, status);
}

export async function call<T>(pending: Promise<SdkResult<T>>, url: string): Promise<T> {
  return (await callWithStatus(pending, url)).data;
}

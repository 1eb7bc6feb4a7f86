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
  throw refusal(status, result.error, url);
}

/** The CliError of a refused answer read straight from its Response (a stream's request, say). */
export async function refusalOf(response: Response, url: string): Promise<CliError> {
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: reported as text
  }
  return refusal(response.status, body, url);
}

/** The server's `code` and `message` with the exit code they mean, or what a non-Velocity answer said. */
function refusal(status: number, body: unknown, url: string): CliError {
  if (isErrorBody(body)) return new CliError(exitCodeForStatus(status, body.code), body.message, body.code, status);
  // Not Velocity's answer: a proxy's error page, a wrong URL.
  const text = typeof body === 'string' ? body.slice(0, 200).trim() : JSON.stringify(body);
  return new CliError(status >= 500 ? ExitCode.SERVER : exitCodeForStatus(status, undefined), `HTTP ${status} from ${url}, not a Velocity error: ${text}`, undefined, status);
}

export async function call<T>(pending: Promise<SdkResult<T>>, url: string): Promise<T> {
  return (await callWithStatus(pending, url)).data;
}

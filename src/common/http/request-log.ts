import type { FastifyRequest } from 'fastify';

const urlsForLog = new WeakMap<FastifyRequest, string>();

/**
 * The request's URL as the logs show it: the path as sent, then the query as Fastify parsed
 * it, with the value of every parameter whose name holds "authkey" replaced. Working on the
 * parsed names, not on the raw string, catches every spelling the server accepts
 * (`?auth%6Bey=`, `?authkey=` twice) and the ones it refuses but that still carry a key
 * (`?authkey[]=`). The first call fixes the result: the onRequest hook makes it before
 * GET bodies are folded into the query.
 */
export function urlForLog(request: FastifyRequest): string {
  let url = urlsForLog.get(request);
  if (url === undefined) {
    url = CANNOT_CARRY_AUTHKEY.test(request.url) ? request.url : pathOf(request.url) + queryForLog(request.query);
    urlsForLog.set(request, url);
  }
  return url;
}

/**
 * A URL without "authkey" and without any escape or fragment names no parameter holding a
 * key however it is parsed, so it is logged as sent: most requests skip rebuilding the query.
 */
const CANNOT_CARRY_AUTHKEY = /^(?!.*authkey)[^%#]*$/i;

/** The path without what the router reads as the query (it splits at `?` and at `#`). */
function pathOf(rawUrl: string): string {
  const end = rawUrl.search(/[?#]/);
  return end === -1 ? rawUrl : rawUrl.slice(0, end);
}

function queryForLog(query: unknown): string {
  if (typeof query !== 'object' || query === null) return '';
  const pairs = Object.entries(query).flatMap(([name, value]) =>
    ([] as unknown[]).concat(value).map((one) => `${encodeURIComponent(name)}=${/authkey/i.test(name) ? '[redacted]' : encodeURIComponent(String(one))}`),
  );
  return pairs.length ? `?${pairs.join('&')}` : '';
}

/**
 * The access log: one line per answered request (`<ISO time> [HTTP] [<request id>] <method>
 * <url> <status> <ms>`, then ` token=<id>` for a request made with an API token) on stdout, written in batches, one write per event-loop turn. It does
 * not go through Nest's ConsoleLogger, whose per-line formatting (an Intl timestamp, colours)
 * cost a third of a cheap request's throughput (GET /health: 11–12k req/s with it, 17.5–18.7k
 * without any line, same machine and run). A kill -9 loses at most the lines of the current
 * turn; a graceful shutdown flushes them.
 */
export class AccessLog {
  private static pending: string[] = [];
  private static scheduled = false;
  /** Where the lines go instead of stdout (the tests' log capture). */
  private static redirected: ((line: string) => void) | undefined;

  /** `tokenId`: the API token the request was authenticated with, named by its id (never its secret). */
  static write(request: FastifyRequest, status: number, elapsedMs: number, tokenId?: string): void {
    const caller = tokenId ? ` token=${tokenId}` : '';
    const line = `${new Date().toISOString()} [HTTP] [${request.id}] ${request.method} ${urlForLog(request)} ${status} ${elapsedMs.toFixed(1)}ms${caller}`;
    if (AccessLog.redirected) return AccessLog.redirected(line);
    AccessLog.pending.push(line);
    if (!AccessLog.scheduled) {
      AccessLog.scheduled = true;
      setImmediate(AccessLog.flush);
    }
  }

  static flush(): void {
    AccessLog.scheduled = false;
    if (AccessLog.pending.length === 0) return;
    const lines = AccessLog.pending;
    AccessLog.pending = [];
    process.stdout.write(`${lines.join('\n')}\n`);
  }

  /** Sends the lines to `sink` instead of stdout, or back to stdout without one. */
  static redirect(sink?: (line: string) => void): void {
    AccessLog.redirected = sink;
  }
}

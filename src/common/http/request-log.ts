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
    url = pathOf(request.url) + queryForLog(request.query);
    urlsForLog.set(request, url);
  }
  return url;
}

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

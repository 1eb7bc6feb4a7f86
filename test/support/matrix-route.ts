import { Call } from './test-app';

/**
 * The route an authorization-matrix row calls. Rows hold it as data, apart from the rest of
 * their request, so the route-coverage test reads the routes the matrices send to.
 */
export interface MatrixRoute {
  method: Call['method'];
  /** Without the base path. */
  path: string;
  /** Tells apart rows for the same route (e.g. where the request carries its fields). */
  variant?: string;
}

/** What a row sends besides its route and its key. */
export type RequestParts = Omit<Call, 'method' | 'url' | 'token'>;

/** `METHOD /path`: how routes are compared and named in failures. */
export function routeKey(route: Pick<MatrixRoute, 'method' | 'path'>): string {
  return `${route.method} ${route.path}`;
}

/** The row's name in test titles. */
export function rowName(route: MatrixRoute): string {
  return route.variant ? `${routeKey(route)} (${route.variant})` : routeKey(route);
}

/** The row's request, to send with a key. */
export function requestTo(route: MatrixRoute, parts: RequestParts): Omit<Call, 'token'> {
  return { method: route.method, url: route.path, ...parts };
}

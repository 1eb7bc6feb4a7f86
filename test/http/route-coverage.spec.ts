import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CONSOLE_STREAM_PATH } from '../../src/vms/vm-console.gateway';
import { CATALOG_COLLECTION_ENDPOINTS, CATALOG_ENDPOINTS } from '../catalogs/authorization-matrix.rows';
import { IDENTITY_ENDPOINTS } from '../identity/authorization-matrix.rows';
import { MatrixRoute, routeKey } from '../support/matrix-route';
import { Call, TestApp } from '../support/test-app';
import { R_ENDPOINTS, V_ENDPOINTS } from '../vms/authorization-matrix.rows';

/**
 * Every route the application serves has a row in an authorization matrix or is listed below
 * as needing no authorization; every matrix row and every listed route exists. A new endpoint
 * without a matrix row fails here, by name.
 */

/** The rows of every authorization matrix, by matrix. */
const MATRIX_ROWS: Record<string, MatrixRoute[]> = {
  '/u, /audit and /nodes matrix': IDENTITY_ENDPOINTS,
  '/c matrix': [...CATALOG_ENDPOINTS, ...CATALOG_COLLECTION_ENDPOINTS],
  '/v and /r matrix': [...V_ENDPOINTS, ...R_ENDPOINTS],
};

/** The routes no authkey guards, each with the reason. */
const PUBLIC_ROUTES: Array<{ routes: string[]; reason: string }> = [
  { routes: ['POST /u/auth'], reason: 'logging in is how a caller gets an authkey' },
  { routes: ['PATCH /u/auth'], reason: 'renews the key it is sent and refuses a bad one itself (403, see the /u matrix spec)' },
  { routes: ['DELETE /u/auth'], reason: 'revokes the key it is sent; an unknown key revokes nothing' },
  { routes: ['GET /health', 'GET /ready'], reason: 'liveness and readiness probes answer without a key' },
  {
    routes: [
      'GET /docs',
      'GET /docs/',
      'GET /docs/index.html',
      'GET /docs/swagger-ui-init.js',
      'GET /docs/docs/swagger-ui-init.js',
      'GET /docs/LICENSE',
      'GET /docs/*',
      'GET /docs-json',
      'GET /docs-yaml',
    ],
    reason: 'Swagger UI (@nestjs/swagger\'s routes) and the OpenAPI document describe the API to anyone',
  },
];

/** A route (`METHOD /path`) and who says it is covered: a matrix or the public list. */
interface Claim {
  route: string;
  by: string;
}

const CLAIMS: Claim[] = [
  ...Object.entries(MATRIX_ROWS).flatMap(([matrix, rows]) => rows.map((row) => ({ route: routeKey(row), by: matrix }))),
  ...PUBLIC_ROUTES.flatMap(({ routes }) => routes.map((route) => ({ route, by: 'PUBLIC_ROUTES' }))),
];

interface CoverageGaps {
  /** Served routes that nothing claims. */
  uncovered: string[];
  /** Claims of routes that are not served, as `route (by)`. */
  stale: string[];
}

function coverageGaps(served: string[], claims: Claim[]): CoverageGaps {
  const claimed = new Set(claims.map((c) => c.route));
  const known = new Set(served);
  return {
    uncovered: served.filter((route) => !claimed.has(route)),
    stale: claims.filter((c) => !known.has(c.route)).map((c) => `${c.route} (${c.by})`),
  };
}

/** One line of Fastify's route tree: indentation, a path segment, the methods routed there. */
const TREE_LINE = /^((?:│ {3}| {4})*)[├└]── (.+?)(?: \(([A-Z]+(?:, [A-Z]+)*)\))?$/;

/**
 * The routes (`METHOD /path`) in Fastify's `printRoutes({ commonPrefix: false })` tree, where
 * each line is a path segment under its parent line. The HEAD route Fastify adds beside each
 * GET runs the GET handler, guards included, so it is left out.
 */
function parseRouteTree(tree: string): string[] {
  const pathAtDepth: string[] = [];
  const routes: string[] = [];
  for (const line of tree.split('\n').filter((l) => l.trim() !== '')) {
    const match = TREE_LINE.exec(line);
    if (!match) throw new Error(`not a line of Fastify's route tree: ${JSON.stringify(line)}`);
    const [, indent, segment, methods] = match;
    const depth = indent.length / 4;
    if (depth > pathAtDepth.length) throw new Error(`a line deeper than its parent: ${JSON.stringify(line)}`);
    pathAtDepth.length = depth;
    const path = (pathAtDepth[depth - 1] ?? '') + segment;
    pathAtDepth.push(path);
    for (const method of methods?.split(', ') ?? []) routes.push(`${method} ${path}`);
  }
  return routes.filter((route) => !(route.startsWith('HEAD ') && routes.includes(`GET ${route.slice('HEAD '.length)}`)));
}

describe('authorization matrix coverage of the served routes', () => {
  let served: string[];
  let fastifyRoutes: string[];
  let t: TestApp;

  before(async () => {
    t = await TestApp.start();
    // The app is built and its routes registered by now, too late for an onRoute hook:
    // printRoutes is the list Fastify gives of them.
    fastifyRoutes = parseRouteTree(t.app.getHttpAdapter().getInstance().printRoutes({ commonPrefix: false }));
    // The console stream is a WebSocket upgrade the gateway takes from the HTTP server
    // itself; Fastify has no route for it.
    served = [...fastifyRoutes, routeKey({ method: 'GET', path: CONSOLE_STREAM_PATH })];
  });
  after(() => t.close());

  it('reads the routes from Fastify\'s route tree', () => {
    assert.ok(fastifyRoutes.includes('POST /u/auth') && fastifyRoutes.includes('GET /r/storage/list'), fastifyRoutes.join('\n'));
    const fastify = t.app.getHttpAdapter().getInstance();
    const unknown = fastifyRoutes.filter((route) => {
      const [method, url] = route.split(' ');
      return !fastify.hasRoute({ method, url });
    });
    assert.deepEqual(unknown, [], 'routes read from the tree that Fastify does not have');
  });

  it('every served route has a row in an authorization matrix, or is listed as needing no authorization', () => {
    const { uncovered } = coverageGaps(served, CLAIMS);
    assert.deepEqual(uncovered, [], `routes without a row in any authorization matrix (add one, or list the route in PUBLIC_ROUTES with its reason): ${uncovered.join(', ')}`);
  });

  it('every matrix row and every route listed as needing no authorization is served', () => {
    const { stale } = coverageGaps(served, CLAIMS);
    assert.deepEqual(stale, [], `rows for routes the application does not serve: ${stale.join(', ')}`);
  });

  it('no route listed as needing no authorization asks for a key', async () => {
    for (const route of PUBLIC_ROUTES.flatMap(({ routes }) => routes)) {
      const [method, path] = route.split(' ') as [Call['method'], string];
      const reply = await t.call({ method, url: path.replace('*', 'swagger-ui.css') });
      assert.notEqual(reply.status, 401, `${route}: ${JSON.stringify(reply.body)}`);
    }
  });

  // The comparison's failing path, on the real routes and rows: what one made-up route or row
  // adds to the gaps (none, while the two tests above pass) is exactly that route or row.
  it('reports exactly the one route added without a matrix row', () => {
    const gaps = coverageGaps(served, CLAIMS);
    assert.deepEqual(coverageGaps([...served, 'POST /v/made-up'], CLAIMS), { ...gaps, uncovered: [...gaps.uncovered, 'POST /v/made-up'] });
  });

  it('reports exactly the one matrix row for a route that is not served', () => {
    const gaps = coverageGaps(served, CLAIMS);
    assert.deepEqual(coverageGaps(served, [...CLAIMS, { route: 'DELETE /r/made-up', by: '/v and /r matrix' }]), {
      ...gaps,
      stale: [...gaps.stale, 'DELETE /r/made-up (/v and /r matrix)'],
    });
  });

  it('reads nested segments, leaves out HEAD beside GET and refuses a line it does not know', () => {
    const tree = ['├── /v (GET, HEAD, PATCH)', '│   ├── /list (GET, HEAD)', '│   └── /efi (PUT)', '└── /docs', '    └── -json (HEAD)', ''].join('\n');
    assert.deepEqual(parseRouteTree(tree), ['GET /v', 'PATCH /v', 'GET /v/list', 'PUT /v/efi', 'HEAD /docs-json']);
    assert.throws(() => parseRouteTree('/v (GET)'), /not a line of Fastify's route tree/);
  });
});

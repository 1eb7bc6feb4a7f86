import Ajv, { ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The committed OpenAPI document; the openapi drift test keeps it equal to the served one. */
const DOCUMENT_FILE = join(__dirname, '..', '..', '..', 'openapi', 'velocity.json');

/** Routes outside the API: the documentation itself. */
const UNDOCUMENTED_ROUTES = /^\/docs(-json|-yaml)?(\/|$)/;

interface Operation {
  responses: Record<string, { content?: Record<string, { schema: object }> }>;
}

/**
 * Holds the server to its OpenAPI document: every response the test suite receives — through
 * inject, a listening port or a proxy in front — must have a status the operation documents
 * (or its `default`), and a JSON body must match the schema documented for it. Installed on
 * every TestApp server, so no endpoint escapes; a response that breaks the contract is a
 * violation the test that caused it reports (see TestApp.call and TestApp.close).
 */
export class ResponseContract {
  private static shared?: { paths: Record<string, Record<string, Operation>>; ajv: Ajv; validators: Map<string, ValidateFunction> };
  private readonly violations: string[] = [];

  /** Checks every response `fastify` sends; the base path is stripped from route URLs. */
  static install(fastify: FastifyInstance, basePath: string): ResponseContract {
    const contract = new ResponseContract();
    fastify.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
      const route = request.routeOptions.url;
      if (route === undefined || !route.startsWith(basePath)) return payload; // no route: nothing documents it
      const violation = contract.check(request.method, route.slice(basePath.length) || '/', reply.statusCode, String(reply.getHeader('content-type') ?? ''), payload);
      if (violation) contract.violations.push(`${request.method} ${request.url} → ${reply.statusCode}: ${violation}`);
      return payload;
    });
    return contract;
  }

  /** The violations since the last call, which it clears. */
  takeViolations(): string[] {
    return this.violations.splice(0);
  }

  private check(method: string, path: string, status: number, contentType: string, payload: unknown): string | null {
    if (UNDOCUMENTED_ROUTES.test(path) || method === 'HEAD') return null;
    const { paths, ajv, validators } = ResponseContract.document();
    const operation = paths[path]?.[method.toLowerCase()];
    if (!operation) return 'the document has no such operation';
    const documented = operation.responses[String(status)] ? String(status) : operation.responses.default ? 'default' : undefined;
    if (!documented) return `status ${status} is not documented (documented: ${Object.keys(operation.responses).join(', ')})`;
    const schema = operation.responses[documented].content?.['application/json']?.schema;
    if (!schema || !contentType.startsWith('application/json') || typeof payload !== 'string') return null;
    const key = `${method} ${path} ${documented}`;
    let validate = validators.get(key);
    if (!validate) {
      validate = ajv.compile(schema);
      validators.set(key, validate);
    }
    if (validate(JSON.parse(payload))) return null;
    return `the body does not match the documented schema: ${ajv.errorsText(validate.errors, { dataVar: 'body' })}; body: ${payload.slice(0, 300)}`;
  }

  /** The document, parsed and prepared once per process. */
  private static document() {
    if (!ResponseContract.shared) {
      const document = JSON.parse(readFileSync(DOCUMENT_FILE, 'utf8'));
      // OpenAPI 3.0 schemas are JSON Schema plus a few keywords of their own (`nullable`,
      // `example`), which ajv accepts outside strict mode.
      const ajv = new Ajv({ strict: false, allErrors: true });
      addFormats(ajv);
      ajv.addSchema({ $id: 'openapi', components: document.components });
      // References point into the document's components, registered above as `openapi`.
      const paths = JSON.parse(JSON.stringify(document.paths).replaceAll('"#/components/', '"openapi#/components/'));
      ResponseContract.shared = { paths, ajv, validators: new Map() };
    }
    return ResponseContract.shared;
  }
}

import type { OpenAPIObject } from '@nestjs/swagger';
import type { OperationObject, ReferenceObject, SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';

/*
 * Rules the whole OpenAPI document follows, applied once to the generated document so that
 * no operation can escape them by a decorator forgotten on one handler.
 */

const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

function operationsOf(document: OpenAPIObject): OperationObject[] {
  return Object.values(document.paths).flatMap((item) => METHODS.map((method) => item[method]).filter((op): op is OperationObject => !!op));
}

function schemaName(ref: string): string {
  return ref.replace('#/components/schemas/', '');
}

/**
 * The authkey travels three ways (src/identity/auth/authkey-extractor.ts): the Bearer header,
 * the `authkey` query parameter, and the `authkey` field of a JSON body. The first two are
 * security schemes, either of which satisfies an operation; operations that need no authkey
 * say so with `security: []` rather than by leaving it out. The body field is in every
 * request body's schema (closeRequestBodies).
 */
export function documentAuthkeyCarriers(document: OpenAPIObject): void {
  document.components ??= {};
  document.components.securitySchemes = {
    ...document.components.securitySchemes,
    authkey_query: { type: 'apiKey', in: 'query', name: 'authkey', description: 'The authkey (or an API token) as a query parameter (for clients that cannot set headers)' },
  };
  for (const operation of operationsOf(document)) {
    const bearer = operation.security?.some((requirement) => 'authkey' in requirement);
    operation.security = bearer ? [{ authkey: [] }, { authkey_query: [] }] : [];
  }
}

/**
 * Request bodies are closed: the validation pipe refuses unknown fields (forbidNonWhitelisted)
 * at every depth, so every schema a request body reaches says `additionalProperties: false`;
 * and each body may carry the authkey (the seed's form), which the server takes out before
 * validation.
 */
export function closeRequestBodies(document: OpenAPIObject): void {
  const schemas = document.components?.schemas ?? {};
  const bodies = new Set<string>();
  for (const operation of operationsOf(document)) {
    const body = operation.requestBody && 'content' in operation.requestBody ? operation.requestBody.content['application/json']?.schema : undefined;
    if (body && '$ref' in body) bodies.add(schemaName(body.$ref));
  }
  const closed = new Set<string>();
  const close = (name: string) => {
    if (closed.has(name)) return;
    closed.add(name);
    const schema = schemas[name] as SchemaObject;
    schema.additionalProperties = false;
    for (const ref of referencesIn(schema)) close(ref);
  };
  for (const name of bodies) {
    const schema = schemas[name] as SchemaObject;
    schema.properties = {
      ...schema.properties,
      authkey: { type: 'string', description: 'The authkey, for clients that send it in the body rather than as a Bearer header' },
    };
    close(name);
  }
}

function referencesIn(schema: SchemaObject | ReferenceObject): string[] {
  const found: string[] = [];
  JSON.stringify(schema, (key, value: unknown) => {
    if (key === '$ref' && typeof value === 'string') found.push(schemaName(value));
    return value;
  });
  return found;
}

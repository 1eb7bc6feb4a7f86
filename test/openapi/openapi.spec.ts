import SwaggerParser from '@apidevtools/swagger-parser';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import { OPENAPI_FILE, sortedJson } from '../../tools/write-openapi';
import { TestApp } from '../support/test-app';

describe('OpenAPI document and Swagger UI', () => {
  let t: TestApp;
  let document: any;
  before(async () => {
    t = await TestApp.start();
    document = (await t.call({ method: 'GET', url: '/docs-json' })).body;
  });
  after(() => t.close());

  it('passes a standard OpenAPI validator', async () => {
    // validate() dereferences in place; give it a copy.
    await SwaggerParser.validate(structuredClone(document));
    assert.match(document.openapi, /^3\./);
  });

  it('has one unique, readable operationId per route', () => {
    const ids: string[] = [];
    for (const [path, item] of Object.entries<any>(document.paths)) {
      for (const [method, op] of Object.entries<any>(item)) {
        assert.match(op.operationId ?? '', /^[a-z][A-Za-z]+$/, `${method.toUpperCase()} ${path}`);
        ids.push(op.operationId);
      }
    }
    assert.equal(new Set(ids).size, ids.length);
    assert.ok(ids.includes('login') && ids.includes('createUser'));
  });

  it('declares the authkey schemes (Bearer or query) on authenticated routes and documents their errors with examples', () => {
    assert.deepEqual(document.components.securitySchemes.authkey, {
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'authkey',
      description: 'An authkey from POST /u/auth, or an API token (vtk_…) from PUT /u/token',
    });
    const createUser = document.paths['/u/user'].put;
    assert.deepEqual(document.components.securitySchemes.authkey_query, { type: 'apiKey', in: 'query', name: 'authkey', description: document.components.securitySchemes.authkey_query.description });
    assert.deepEqual(createUser.security, [{ authkey: [] }, { authkey_query: [] }], 'either scheme will do');
    for (const status of ['400', '401', '404', '406', '409']) {
      const content = createUser.responses[status]?.content?.['application/json'];
      assert.ok(content, `PUT /u/user documents ${status}`);
      assert.ok(Object.keys(content.examples).length > 0);
    }
    const login = document.paths['/u/auth'].post;
    assert.deepEqual(login.security, [], 'login is public, and says so');
    assert.deepEqual(document.paths['/health'].get.security, []);
    assert.ok(document.components.schemas.ErrorResponseDto.properties.code.enum.includes('VALIDATION_FAILED'));
  });

  it('request bodies are closed and may carry the authkey, as the server takes them', () => {
    for (const [path, item] of Object.entries<any>(document.paths)) {
      for (const [method, op] of Object.entries<any>(item)) {
        const ref = op.requestBody?.content?.['application/json']?.schema?.$ref;
        if (!ref) continue;
        const schema = document.components.schemas[ref.split('/').pop()];
        assert.equal(schema.additionalProperties, false, `${method.toUpperCase()} ${path}`);
        assert.equal(schema.properties.authkey?.type, 'string', `${method.toUpperCase()} ${path}`);
      }
    }
    // Nested request objects too (the validation pipe refuses unknown fields at every depth).
    assert.equal(document.components.schemas.DisplayDto.additionalProperties, false);
  });

  it('no schema serves both a request body and a response: requests stay closed and lenient, responses plainly typed', () => {
    const schemas = document.components.schemas;
    const refs = (value: unknown) => [...JSON.stringify(value).matchAll(/#\/components\/schemas\/(\w+)/g)].map((m) => m[1]);
    const reach = (names: string[], seen: Set<string>): Set<string> => {
      for (const name of names) if (!seen.has(name)) reach(refs(schemas[name]), seen.add(name));
      return seen;
    };
    const requests = new Set<string>();
    const responses = new Set<string>();
    for (const item of Object.values<any>(document.paths)) {
      for (const op of Object.values<any>(item)) {
        reach(refs(op.requestBody ?? {}), requests);
        reach(refs(op.responses), responses);
      }
    }
    assert.deepEqual([...requests].filter((name) => responses.has(name)), []);
  });

  it('a numeric field says both forms with the same bounds; a query number is an integer', () => {
    const cpu = document.components.schemas.CreateEfiVmDto.properties.cpu_count;
    assert.deepEqual(cpu.oneOf[0], { type: 'integer', minimum: 1, maximum: 1024 });
    const digits = new RegExp(cpu.oneOf[1].pattern);
    assert.deepEqual(['0', '1', '1024', '1025', '01'].map((text) => digits.test(text)), [false, true, true, false, false]);
    const bytes = document.paths['/v/console'].get.parameters.find((p: { name: string }) => p.name === 'bytes');
    assert.deepEqual(bytes.schema, { type: 'integer', minimum: 1, maximum: 1048576, example: 65536 });
    assert.equal(document.components.schemas.Object, undefined, 'no field falls back to an untyped object');
  });

  it('every request DTO property has an example or a description', () => {
    for (const [name, schema] of Object.entries<any>(document.components.schemas)) {
      for (const [prop, def] of Object.entries<any>(schema.properties ?? {})) {
        assert.ok(def.description !== undefined || def.example !== undefined || def.$ref || def.items, `${name}.${prop}`);
      }
    }
  });

  it('matches the committed openapi/velocity.json (run `npm run openapi` after an API change)', () => {
    const committed = readFileSync(OPENAPI_FILE, 'utf8');
    assert.equal(sortedJson(document), committed, 'the served document differs from openapi/velocity.json');
  });

  it('serves Swagger UI at /docs', async () => {
    const reply = await t.call({ method: 'GET', url: '/docs' });
    assert.equal(reply.status, 200);
    assert.match(String(reply.body), /swagger-ui/i);
  });
});

describe('under a base path', () => {
  let t: TestApp;
  before(async () => {
    t = await TestApp.start({ env: { VELOCITY_BASE_PATH: '/velocity' } });
  });
  after(() => t.close());

  it('serves the API, health and the docs below the prefix only', async () => {
    assert.equal((await t.call({ method: 'GET', url: '/health' })).status, 200);
    const doc = await t.call({ method: 'GET', url: '/docs-json' });
    assert.equal(doc.status, 200);
    assert.ok(doc.body.paths['/u/auth'], 'paths are the API\'s own');
    assert.ok(!Object.keys(doc.body.paths).some((path) => path.startsWith('/velocity')), 'no path carries the prefix');
    assert.deepEqual(doc.body.servers.map((s: { url: string }) => s.url), ['/velocity'], 'the prefix is the server URL');
    assert.equal((await t.call({ method: 'GET', url: '/docs' })).status, 200);
    const outside = await t.app.inject({ method: 'GET', url: '/health' });
    assert.equal(outside.statusCode, 404);
  });
});

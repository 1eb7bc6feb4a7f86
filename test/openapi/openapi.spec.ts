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

  it('declares the bearer scheme on authenticated routes and documents their errors with examples', () => {
    assert.deepEqual(document.components.securitySchemes.authkey, {
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'authkey',
      description: 'An authkey from POST /u/auth',
    });
    const createUser = document.paths['/u/user'].put;
    assert.deepEqual(createUser.security, [{ authkey: [] }]);
    for (const status of ['400', '401', '404', '406', '409']) {
      const content = createUser.responses[status]?.content?.['application/json'];
      assert.ok(content, `PUT /u/user documents ${status}`);
      assert.ok(Object.keys(content.examples).length > 0);
    }
    const login = document.paths['/u/auth'].post;
    assert.equal(login.security, undefined, 'login is public');
    assert.ok(document.components.schemas.ErrorResponseDto.properties.code.enum.includes('VALIDATION_FAILED'));
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

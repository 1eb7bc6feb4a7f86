/*
 * npm run openapi — writes the OpenAPI document to openapi/velocity.json, keys sorted, for
 * client generators and reviews. A test fails when the served document and this file differ,
 * so an API change shows up in the diff of the change that made it.
 */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppModule } from '../src/app.module';
import { buildOpenApiDocument, createFastifyAdapter } from '../src/app.setup';
import { loadConfig } from '../src/config/app-config';

export const OPENAPI_FILE = join(__dirname, '..', '..', 'openapi', 'velocity.json');

/** JSON with object keys sorted at every level, so the file only changes when the API does. */
export function sortedJson(value: unknown): string {
  const sort = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sort)
      : v && typeof v === 'object'
        ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort((v as Record<string, unknown>)[k])]))
        : v;
  return `${JSON.stringify(sort(value), null, 2)}\n`;
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'velocity-openapi-'));
  const config = loadConfig({ VELOCITY_DATA_DIR: dataDir, VELOCITY_HYPERVISOR: 'sim', VELOCITY_ADMIN_PASSWORD: 'openapi-generator' });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), createFastifyAdapter(config), { logger: ['error'] });
  try {
    await app.init();
    writeFileSync(OPENAPI_FILE, sortedJson(buildOpenApiDocument(app, config.basePath)));
    console.log(`wrote ${OPENAPI_FILE}`);
  } finally {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (require.main === module) void main();

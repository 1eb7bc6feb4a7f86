#!/usr/bin/env node
// npm run sdk — generates the TypeScript SDK in clients/typescript/src/ from the committed
// OpenAPI document (openapi/velocity.json) with @hey-api/openapi-ts, the version pinned in
// package.json. Offline: the generator and its fetch client come from node_modules.
// The SDK test (test/clients/sdk.spec.ts) runs this script with `--output <temporary dir>` and
// fails when the result differs from the committed files, so regenerate after `npm run openapi`.
//
// ESM because @hey-api/openapi-ts is an ES module only (no `require` export).
import { createClient } from '@hey-api/openapi-ts';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const OPENAPI_DOCUMENT = join(root, 'openapi', 'velocity.json');
export const SDK_DIR = join(root, 'clients', 'typescript', 'src');

/** Writes the SDK generated from `input` into `output` (emptied first). */
export async function generateSdk({ input = OPENAPI_DOCUMENT, output = SDK_DIR } = {}) {
  await createClient({
    input,
    output: {
      path: output,
      // Explicit `.js` specifiers: the same files compile for CommonJS (this project) and
      // for ES-module consumers under `moduleResolution: nodenext`.
      module: { extension: '.js' },
      // Not guessed from whichever tsconfig.json lies above the output folder.
      tsConfigPath: null,
    },
    plugins: ['@hey-api/client-fetch', '@hey-api/typescript', '@hey-api/sdk'],
    logs: { level: 'warn', file: false },
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { input: { type: 'string' }, output: { type: 'string' } } });
  await generateSdk({ input: values.input && resolve(values.input), output: values.output && resolve(values.output) });
  console.log(`generated the SDK in ${values.output ?? SDK_DIR}`);
}

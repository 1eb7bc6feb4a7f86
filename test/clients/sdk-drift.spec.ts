import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ScratchDir } from '../support/scratch-dir';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..', '..');
const COMMITTED_SDK = join(ROOT, 'clients', 'typescript', 'src');

/** Every file below `dir`, by path relative to it, with its content. */
function tree(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (path: string): void => {
    for (const name of readdirSync(path)) {
      const child = join(path, name);
      if (statSync(child).isDirectory()) walk(child);
      else files.set(relative(dir, child), readFileSync(child, 'utf8'));
    }
  };
  walk(dir);
  return files;
}

describe('the generated TypeScript SDK (clients/typescript)', () => {
  const scratch = new ScratchDir('velocity-sdk-');
  before(async () => {
    // The same script `npm run sdk` runs, from the committed document, into a temporary folder.
    await run(process.execPath, [join(ROOT, 'scripts', 'generate-sdk.mjs'), '--output', scratch.path], { cwd: ROOT });
  });
  after(() => scratch.cleanup());

  it('is what the generator makes of openapi/velocity.json (run `npm run sdk` after `npm run openapi`)', () => {
    const fresh = tree(scratch.path);
    const committed = tree(COMMITTED_SDK);
    const names = [...new Set([...fresh.keys(), ...committed.keys()])].sort();
    const differing = names.filter((name) => fresh.get(name) !== committed.get(name));
    assert.deepEqual(
      differing.map((name) => `${name}: ${!committed.has(name) ? 'not committed' : !fresh.has(name) ? 'no longer generated' : 'differs'}`),
      [],
    );
    assert.ok(committed.has('sdk.gen.ts') && committed.has('types.gen.ts'));
  });

  it('compiles on its own under tsc --strict, as an outside ES-module program builds it', async () => {
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await run(process.execPath, [tsc, '-p', join(ROOT, 'clients', 'typescript')], { cwd: ROOT }).then(
      () => '',
      (error: { stdout?: string; message: string }) => error.stdout || error.message,
    );
    assert.equal(result, '', 'tsc reported errors');
  });
});

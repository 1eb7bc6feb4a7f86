import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';

/**
 * The committed OpenAPI document (kept equal to the served one by openapi.spec) passes the
 * two common OpenAPI linters a client generator's user would run: Spectral's `spectral:oas`
 * and Redocly's `recommended` rules, with no error and no warning. The few rules turned off
 * are in openapi/.spectral.yaml and openapi/redocly.yaml, each with its reason.
 */
const ROOT = join(__dirname, '..', '..', '..');
const DOCUMENT = join(ROOT, 'openapi', 'velocity.json');
const bin = (name: string) => join(ROOT, 'node_modules', '.bin', name);

function run(command: string, args: string[]): { status: number | null; output: string } {
  // No telemetry: the tests run offline.
  const result = spawnSync(command, args, { cwd: ROOT, encoding: 'utf8', timeout: 120_000, env: { ...process.env, REDOCLY_TELEMETRY: 'off' } });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('OpenAPI linters on openapi/velocity.json', () => {
  it('Spectral (spectral:oas): no error, no warning', () => {
    const { status, output } = run(bin('spectral'), ['lint', '--fail-severity=warn', '-r', join(ROOT, 'openapi', '.spectral.yaml'), DOCUMENT]);
    assert.equal(status, 0, output);
    assert.match(output, /No results with a severity of 'warn' or higher found/);
  });

  it('Redocly (recommended): no error, no warning', () => {
    const { status, output } = run(bin('redocly'), ['lint', '--config', join(ROOT, 'openapi', 'redocly.yaml'), '--format=json', DOCUMENT]);
    assert.equal(status, 0, output);
    const report = JSON.parse(output.slice(output.indexOf('{'), output.lastIndexOf('}') + 1));
    assert.deepEqual(report.totals, { errors: 0, warnings: 0, ignored: 0 }, JSON.stringify(report.problems, null, 2));
  });
});

import { spawn } from 'node:child_process';
import { join } from 'node:path';

/** The compiled `velocity` binary (package.json `bin`). */
export const VELOCITY_BIN = join(__dirname, '..', '..', 'cli', 'velocity.js');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `velocity` in a process of its own, as a person or a script would, with `env` on top
 * of a clean environment (no VELOCITY_URL or config from the machine) and `input` on stdin.
 */
export function velocity(args: string[], options: { env?: Record<string, string>; input?: string } = {}): Promise<CliRun> {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, ...options.env };
  const child = spawn(process.execPath, [VELOCITY_BIN, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
  child.stdin.end(options.input ?? '');
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs `velocity … --json` expecting exit 0; its parsed stdout. */
export async function velocityJson<T = any>(args: string[], env: Record<string, string>): Promise<T> {
  const run = await velocity(['--json', ...args], { env });
  if (run.code !== 0) throw new Error(`velocity ${args.join(' ')} exited ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

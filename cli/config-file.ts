import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CliError, ExitCode } from './exit-codes';

/** What `velocity login` keeps for one server. */
export interface StoredLogin {
  username: string;
  authkey: string;
  /** Unix seconds, from the server. */
  expires: number;
  /** Unix seconds when this authkey was issued or renewed (its lifetime is expires − obtained). */
  obtained: number;
}

export interface CliConfig {
  /** The server of the last login: used when neither --url nor VELOCITY_URL says another. */
  url?: string;
  /** Logins by server URL. */
  logins: Record<string, StoredLogin>;
}

/** `VELOCITY_CONFIG`, else `$XDG_CONFIG_HOME/velocity/config.json` (XDG's default ~/.config). */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.VELOCITY_CONFIG) return env.VELOCITY_CONFIG;
  const base = env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'velocity', 'config.json');
}

export function readConfig(path: string): CliConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { logins: {} };
    throw error;
  }
  let parsed: Partial<CliConfig>;
  try {
    parsed = JSON.parse(text) as Partial<CliConfig>;
  } catch (error) {
    throw new CliError(ExitCode.USAGE, `the config file ${path} is not JSON (${(error as Error).message}): fix or remove it`);
  }
  return { url: parsed.url, logins: parsed.logins ?? {} };
}

/**
 * Writes the file readable by its owner only (it holds authkeys): a new file created with mode
 * 0600 and renamed over the old one, so no other user can read it even for a moment, and a
 * crash never leaves half a file.
 */
export function writeConfig(path: string, config: CliConfig): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  // The umask may have taken bits away, never added them; this only makes sure.
  chmodSync(temporary, 0o600);
  renameSync(temporary, path);
}

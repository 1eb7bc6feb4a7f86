import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';

/**
 * PostgreSQL for the tests. The server is the one named by VELOCITY_TEST_POSTGRES_URL (an
 * administrator's URL; scripts/run-tests.js starts one for the whole run and sets it), or else
 * a private one this process starts on first use and stops when it exits. Each test takes a
 * brand-new database of its own from it.
 */

/** A throwaway PostgreSQL server: its own data directory, a loopback port, trust auth. */
export interface PostgresServer {
  /** The superuser's URL to the `postgres` database. */
  readonly url: string;
  stop(): void;
}

const SUPERUSER = 'velocity';

/** The newest Debian PostgreSQL's programs (initdb, pg_ctl), or undefined. */
export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(a) - Number(b));
  return versions.length ? join(root, versions[versions.length - 1], 'bin') : undefined;
}

/**
 * Starts a private server and waits until it accepts connections. PostgreSQL refuses to run
 * as root, so under root it runs as the `postgres` system user (runuser). Durability is off:
 * the data dies with the test run anyway.
 */
export function startPostgresServer(): PostgresServer {
  const bin = postgresBinDir();
  if (!bin) throw new Error('PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): apt-get install postgresql');
  const dir = mkdtempSync(join(tmpdir(), 'vpg-'));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }));
    chownSync(dir, uid, gid);
  }
  const run = (program: string, args: string[]) =>
    execFileSync(asRoot ? 'runuser' : join(bin, program), asRoot ? ['-u', 'postgres', '--', join(bin, program), ...args] : args, {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  const data = join(dir, 'data');
  run('initdb', ['-D', data, '-U', SUPERUSER, '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
  // A random port, tried again if another process holds it.
  for (let attempt = 1; ; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 40_000);
    const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
    try {
      run('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '60', '-o', options, 'start']);
    } catch (error) {
      if (attempt < 5) continue;
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
    let stopped = false;
    return {
      url: `postgres://${SUPERUSER}@127.0.0.1:${port}/postgres`,
      stop: () => {
        if (stopped) return;
        stopped = true;
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
}

/**
 * Stops `server` when this process exits, also when a signal ends it (a cancelled test run):
 * pg_ctl starts the server in the background, where nothing else would stop it.
 */
export function stopAtExit(server: PostgresServer): void {
  process.once('exit', () => server.stop());
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      server.stop();
      // The listener is gone: the signal now ends the process as it would have.
      process.kill(process.pid, signal);
    });
  }
}

let ownServer: PostgresServer | undefined;

/** VELOCITY_TEST_POSTGRES_URL, or this process's own server (started once, stopped at exit). */
export function testPostgresUrl(): string {
  const given = process.env.VELOCITY_TEST_POSTGRES_URL;
  if (given) return given;
  if (!ownServer) {
    ownServer = startPostgresServer();
    stopAtExit(ownServer);
  }
  return ownServer.url;
}

/** An empty database of its own for one test, and how to drop it. */
export interface TestDatabase {
  readonly url: string;
  drop(): Promise<void>;
}

/** Creates a brand-new, empty database on the test server. */
export async function freshPostgresDatabase(): Promise<TestDatabase> {
  const admin = testPostgresUrl();
  const name = `velocity_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  // The collation README asks for: lists sort by code points, as on SQLite.
  await asAdmin(admin, `CREATE DATABASE "${name}" TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'`);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    // FORCE: a pool a failed test left open does not keep the database alive.
    drop: () => asAdmin(admin, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
  };
}

async function asAdmin(url: string, sql: string): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

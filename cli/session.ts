import { Client, createClient } from '../clients/typescript/src/client';
import { AuthkeyDto, renewAuthkey } from '../clients/typescript/src';
import { call } from './api-call';
import { CliConfig, configPath, readConfig, StoredLogin, writeConfig } from './config-file';
import { CliError, ExitCode } from './exit-codes';

/** An authkey is renewed (PATCH /u/auth) once less than this share of its lifetime is left. */
const RENEW_WHEN_LEFT = 0.25;

export interface ServerOptions {
  url?: string;
  /** An API token (`vtk_…`) to send instead of the kept login. */
  token?: string;
}

/** `http://host:8080/velocity/` → `http://host:8080/velocity`: the SDK appends the API's paths. */
function normalizeUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CliError(ExitCode.USAGE, `not a URL: ${url}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new CliError(ExitCode.USAGE, `not an http(s) URL: ${url}`);
  return `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}`;
}

const now = (): number => Math.floor(Date.now() / 1000);

/**
 * The server a command talks to and the login kept for it. The server is `--url`, else
 * VELOCITY_URL, else the one of the last login; its base path (a reverse proxy's sub-path)
 * is part of the URL.
 */
export class Session {
  private constructor(
    readonly url: string,
    private readonly file: string,
    private readonly config: CliConfig,
    /** An API token given with --token or VELOCITY_TOKEN: sent as is, never renewed or kept. */
    private readonly token: string | undefined,
  ) {}

  static open(options: ServerOptions, env: NodeJS.ProcessEnv = process.env): Session {
    const file = configPath(env);
    const config = readConfig(file);
    const url = options.url ?? env.VELOCITY_URL ?? config.url;
    if (!url) throw new CliError(ExitCode.USAGE, 'which server? Set VELOCITY_URL or pass --url (e.g. http://127.0.0.1:8080)');
    const token = options.token ?? (env.VELOCITY_TOKEN || undefined);
    return new Session(normalizeUrl(url), file, config, token);
  }

  /** A client without credentials (login, health). */
  anonymous(): Client {
    return createClient({ baseUrl: this.url });
  }

  /**
   * A client sending the API token when one is given (the server judges it: a revoked or
   * expired token is refused there), else this server's authkey, renewed first when it is
   * close to expiring.
   */
  async authenticated(): Promise<Client> {
    if (this.token) return createClient({ baseUrl: this.url, auth: this.token });
    const login = this.config.logins[this.url];
    if (!login) throw new CliError(ExitCode.AUTH, `not logged in to ${this.url}: run \`velocity login\``);
    if (login.expires <= now()) throw new CliError(ExitCode.AUTH, `the login to ${this.url} expired: run \`velocity login\``);
    if (login.expires - now() < (login.expires - login.obtained) * RENEW_WHEN_LEFT) {
      const renewed = await call(renewAuthkey({ client: createClient({ baseUrl: this.url, auth: login.authkey }) }), this.url);
      this.remember(login.username, renewed);
    }
    return createClient({ baseUrl: this.url, auth: this.config.logins[this.url].authkey });
  }

  get login(): StoredLogin | undefined {
    return this.config.logins[this.url];
  }

  /** Keeps an authkey for this server (file mode 0600) and makes it the default server. */
  remember(username: string, authkey: AuthkeyDto): void {
    this.config.logins[this.url] = { username, authkey: authkey.authkey, expires: authkey.expires, obtained: now() };
    this.config.url = this.url;
    writeConfig(this.file, this.config);
  }

  forget(): void {
    delete this.config.logins[this.url];
    writeConfig(this.file, this.config);
  }
}

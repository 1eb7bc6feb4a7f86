import { Logger } from '@nestjs/common';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { AssertionError } from 'node:assert';
import { Test } from '@nestjs/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { AppModule } from '../../src/app.module';
import { configureApp, createFastifyAdapter } from '../../src/app.setup';
import { AccessLog } from '../../src/common/http/request-log';
import { Clock } from '../../src/common/clock';
import { AppConfig, loadConfig } from '../../src/config/app-config';
import { ManualClock } from './manual-clock';
import { ResponseContract } from './response-contract';

export const ROOT_PASSWORD = 'root-password-for-tests';

// The simulator's transitions take hundreds of milliseconds, as real ones do; tests run
// them twenty times faster (the sim library reads this variable).
process.env.VHV_SIM_TIME_SCALE ??= '0.05';

export interface TestAppOptions {
  /** Reuse a data directory (restart tests); a fresh temporary one otherwise. */
  dataDir?: string;
  env?: Record<string, string>;
}

export interface Call {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  /** Sent as `Authorization: Bearer`. */
  token?: string;
  body?: unknown;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  /** Raw payload instead of JSON. */
  payload?: string | Buffer;
}

export interface Reply {
  status: number;
  body: any;
  headers: Record<string, unknown>;
}

/**
 * The real server (every module, the real SQLite file under a temporary data directory,
 * Fastify's request pipeline through inject) with a clock the test can move.
 */
export class TestApp {
  private constructor(
    readonly app: NestFastifyApplication,
    readonly config: AppConfig,
    readonly clock: ManualClock,
    private readonly ownsDataDir: boolean,
    private readonly contract: ResponseContract,
  ) {}

  static async start(options: TestAppOptions = {}): Promise<TestApp> {
    const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'velocity-test-'));
    const config = loadConfig({
      VELOCITY_DATA_DIR: dataDir,
      VELOCITY_ADMIN_PASSWORD: ROOT_PASSWORD,
      VELOCITY_HYPERVISOR: 'sim',
      // Tests log in far more often than a person; the login limits have tests of their own.
      VELOCITY_LOGIN_ATTEMPTS_PER_MINUTE: '100000',
      ...options.env,
    });
    const clock = new ManualClock();
    const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot(config)] })
      .overrideProvider(Clock)
      .useValue(clock)
      .compile();
    const app = moduleRef.createNestApplication<NestFastifyApplication>(createFastifyAdapter(config), { logger: false });
    configureApp(app, config);
    const contract = ResponseContract.install(app.getHttpAdapter().getInstance(), config.basePath);
    // The access log through Nest's Logger, which tests silence or capture (LogCapture).
    AccessLog.redirect((line) => Logger.log(line));
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    return new TestApp(app, config, clock, options.dataDir === undefined, contract);
  }

  /** Listens on a free loopback port (for sockets and streams that inject cannot carry); returns the port. */
  async listen(): Promise<number> {
    await this.app.listen({ port: 0, host: '127.0.0.1' });
    return (this.app.getHttpServer().address() as AddressInfo).port;
  }

  get dataSource(): DataSource {
    return this.app.get(DataSource);
  }

  /** Counts rows straight from the SQLite file, for "nothing was written" checks. */
  async count(table: string, where = '1=1', params: unknown[] = []): Promise<number> {
    const rows = await this.dataSource.query(`SELECT COUNT(*) AS n FROM "${table}" WHERE ${where}`, params);
    return Number(rows[0].n);
  }

  async call(call: Call): Promise<Reply> {
    const headers: Record<string, string> = { ...call.headers };
    if (call.token) headers.authorization = `Bearer ${call.token}`;
    let payload = call.payload;
    if (call.body !== undefined) {
      payload = JSON.stringify(call.body);
      headers['content-type'] ??= 'application/json';
    }
    const response = await this.app.inject({
      method: call.method,
      url: `${this.config.basePath}${call.url}`,
      query: call.query,
      headers,
      payload,
    });
    this.assertContractKept();
    let body: unknown = response.body;
    if (String(response.headers['content-type'] ?? '').includes('application/json') && response.body !== '') {
      body = JSON.parse(response.body);
    }
    return { status: response.statusCode, body, headers: response.headers };
  }

  async login(username: string, password: string): Promise<string> {
    const reply = await this.call({ method: 'POST', url: '/u/auth', body: { username, password } });
    if (reply.status !== 200) throw new Error(`login of ${username} failed: ${reply.status} ${JSON.stringify(reply.body)}`);
    return reply.body.authkey;
  }

  loginRoot(): Promise<string> {
    return this.login('root', ROOT_PASSWORD);
  }

  /** Creates a user (as `creatorToken`) and logs them in. */
  async createUser(creatorToken: string, username: string, groups: string[] = []): Promise<{ uid: string; token: string; personalGid: string }> {
    const password = `${username}-password`;
    const reply = await this.call({ method: 'PUT', url: '/u/user', token: creatorToken, body: { username, password, groups } });
    if (reply.status !== 200) throw new Error(`creating ${username} failed: ${reply.status} ${JSON.stringify(reply.body)}`);
    const personal = reply.body.groups.find((g: { personal: boolean }) => g.personal);
    return { uid: reply.body.uid, token: await this.login(username, password), personalGid: personal.gid };
  }

  /** Creates an API token (as the holder of `authkey`) from a PUT /u/token body; its id and secret. */
  async createApiToken(authkey: string, body: Record<string, unknown>): Promise<{ id: string; secret: string }> {
    const reply = await this.call({ method: 'PUT', url: '/u/token', token: authkey, body });
    if (reply.status !== 200) throw new Error(`creating API token ${String(body.name)} failed: ${reply.status} ${JSON.stringify(reply.body)}`);
    return { id: reply.body.id, secret: reply.body.secret };
  }

  async createGroup(token: string, groupname: string): Promise<string> {
    const reply = await this.call({ method: 'PUT', url: '/u/group', token, body: { groupname } });
    if (reply.status !== 200) throw new Error(`creating group ${groupname} failed: ${reply.status} ${JSON.stringify(reply.body)}`);
    return reply.body.gid;
  }

  async specialGroupId(token: string, special: string): Promise<string> {
    const reply = await this.call({ method: 'GET', url: '/u/group/list', token });
    return reply.body.groups.find((g: { special: string | null }) => g.special === special).gid;
  }

  /** Stops the server; removes the data directory unless the test supplied it. */
  async close(options: { keepData?: boolean } = {}): Promise<void> {
    await this.app.close();
    if (this.ownsDataDir && !options.keepData) rmSync(this.config.dataDir, { recursive: true, force: true });
    // Responses that went another way than call() (a listening port, raw inject) are held
    // to the document too.
    this.assertContractKept();
  }

  /** Fails with every response since the last check that its OpenAPI document does not allow. */
  private assertContractKept(): void {
    const violations = this.contract.takeViolations();
    if (violations.length) throw new AssertionError({ message: `responses that break the OpenAPI document:\n${violations.join('\n')}` });
  }
}

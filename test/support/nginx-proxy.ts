import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './server-process';
import { sleep } from './wait';

// scripts/run-tests.js finds it (scripts/test-requirements.js); the default is Debian's.
const NGINX = process.env.VELOCITY_TEST_NGINX ?? '/usr/sbin/nginx';
const DEPLOY = join(__dirname, '..', '..', '..', 'deploy');

async function waitForHttp(url: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if ((await fetch(url)).status < 500) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) assert.fail(`${url} did not come up`);
    await sleep(100);
  }
}

/**
 * A real nginx process running the README's deployment, deploy/nginx.conf.example (or
 * `example`, e.g. the cluster's), in front of servers listening on `appPorts` with
 * VELOCITY_BASE_PATH=/velocity: only the listening address, the upstream ports (in the order
 * the file names them) and the files nginx writes are changed.
 */
export class NginxProxy {
  private constructor(
    /** `http://127.0.0.1:<port>`; the API is below `/velocity/`. */
    readonly url: string,
    /** nginx's own directory (config, logs), removed by stop(). */
    readonly dir: string,
    private readonly process: ChildProcess,
  ) {}

  static async start(appPorts: number | number[], example = 'nginx.conf.example'): Promise<NginxProxy> {
    const ports = [appPorts].flat();
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'velocity-nginx-'));
    mkdirSync(join(dir, 'tmp'));
    writeFileSync(
      join(dir, 'nginx.conf'),
      readFileSync(join(DEPLOY, example), 'utf8')
        .replace(/^\s*listen .*$/m, `    listen 127.0.0.1:${port};`)
        .replace(/server 127\.0\.0\.1:\d+/g, () => `server 127.0.0.1:${ports.shift()}`)
        .replace(/^http \{/m, `http {\n  access_log off;\n  client_body_temp_path ${dir}/tmp/body;\n  proxy_temp_path ${dir}/tmp/proxy;\n  fastcgi_temp_path ${dir}/tmp/fastcgi;\n  uwsgi_temp_path ${dir}/tmp/uwsgi;\n  scgi_temp_path ${dir}/tmp/scgi;`)
        .replace(/^# main$/m, `user root;\ndaemon off;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;`),
    );
    const nginx = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'inherit' });
    const proxy = new NginxProxy(`http://127.0.0.1:${port}`, dir, nginx);
    await waitForHttp(`${proxy.url}/velocity/health`);
    return proxy;
  }

  stop(): void {
    this.process.kill('SIGQUIT');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

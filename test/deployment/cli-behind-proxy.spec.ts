import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NginxProxy } from '../support/nginx-proxy';
import { ScratchDir } from '../support/scratch-dir';
import { ROOT_PASSWORD, TestApp } from '../support/test-app';
import { velocity, velocityJson } from '../support/velocity-cli';
import { sleep } from '../support/wait';

/**
 * The `velocity` binary against the README's deployment: the server under
 * VELOCITY_BASE_PATH=/velocity behind a real nginx, VELOCITY_URL naming the proxy's sub-path.
 */
describe('the velocity CLI behind nginx under /velocity/', () => {
  let t: TestApp;
  let nginx: NginxProxy;
  let scratch: ScratchDir;
  let env: Record<string, string>;

  before(async () => {
    t = await TestApp.start({ env: { VELOCITY_BASE_PATH: '/velocity', VELOCITY_TRUST_PROXY: '127.0.0.1' } });
    nginx = await NginxProxy.start(await t.listen());
    scratch = new ScratchDir('velocity-cli-proxy-');
    env = { VELOCITY_CONFIG: join(scratch.path, 'config.json'), VELOCITY_URL: `${nginx.url}/velocity` };
  });
  after(async () => {
    nginx?.stop();
    await t.close();
    scratch.cleanup();
  });

  it('logs in, runs a VM and reads its console through the proxy', async () => {
    const login = await velocity(['login', '--username', 'root', '--password-stdin'], { env, input: ROOT_PASSWORD });
    assert.equal(login.code, 0, login.stderr);
    assert.equal(JSON.parse(readFileSync(env.VELOCITY_CONFIG, 'utf8')).url, `${nginx.url}/velocity`);

    const { cid } = await velocityJson<{ cid: string }>(['catalog', 'create', '-g', 'root', '-l', 'proxied'], env);
    const { vmid } = await velocityJson<{ vmid: string }>(['vm', 'create', '-c', cid, '-n', 'proxied-vm'], env);
    assert.equal((await velocity(['vm', 'start', vmid], { env })).code, 0);
    let console = '';
    for (const deadline = Date.now() + 5000; !console.includes('login:') && Date.now() < deadline; await sleep(100)) {
      console = (await velocity(['vm', 'console', vmid], { env })).stdout;
    }
    assert.match(console, /login:/);
    assert.deepEqual(await velocityJson(['vm', 'stop', vmid], env), { vmid, state: 'STOPPED' });
    assert.deepEqual(await velocityJson(['vm', 'delete', vmid], env), { vmid });
  });

  it('streams an upload through the proxy with its progress', async () => {
    const image = scratch.file('installer.iso');
    writeFileSync(image, Buffer.alloc(5 * 1024 * 1024, 9));
    const upload = await velocity(['--json', 'storage', 'upload', image, '-g', 'root', '--format', 'iso', '--progress'], { env });
    assert.equal(upload.code, 0, upload.stderr);
    assert.match(upload.stderr, /100% \| 5242880\/5242880 bytes/);
    const uploaded = JSON.parse(upload.stdout);
    assert.deepEqual([uploaded.name, uploaded.format, uploaded.read_only, uploaded.size_bytes], ['installer.iso', 'iso', true, 5 * 1024 * 1024]);
  });

  it('reports the server\'s errors, and a wrong sub-path as not Velocity\'s answer', async () => {
    const missing = await velocity(['vm', 'show', '00000000-0000-4000-8000-000000000000'], { env });
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /^error: VM_NOT_FOUND: /);

    const wrongPath = await velocity(['--url', `${nginx.url}/elsewhere`, 'login', '-u', 'root'], { env, input: ROOT_PASSWORD });
    assert.equal(wrongPath.code, 3);
    assert.match(wrongPath.stderr, /HTTP 404 from .+\/elsewhere, not a Velocity error/);
  });
});

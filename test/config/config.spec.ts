import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/app-config';

const MAIN = join(__dirname, '..', '..', 'src', 'main.js');

describe('configuration from the environment', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({});
    assert.equal(config.port, 8080);
    assert.equal(config.basePath, '');
    assert.equal(config.authkeyTtlSeconds, 3600);
    assert.equal(config.hypervisor, 'auto');
    assert.equal(config.trustProxy, false);
    assert.ok(config.dataDir.endsWith('/data'));
    assert.equal(config.forwardAddress, '127.0.0.1', 'forwarded ports listen on loopback only');
    assert.equal(config.nodeHeartbeatSeconds, 2);
  });

  it('parses every variable', () => {
    const config = loadConfig({
      VELOCITY_HOST: '0.0.0.0',
      VELOCITY_PORT: '9000',
      VELOCITY_DATA_DIR: '/var/lib/velocity',
      VELOCITY_BASE_PATH: '/velocity/',
      VELOCITY_TRUST_PROXY: '127.0.0.1,10.0.0.0/8',
      VELOCITY_AUTHKEY_TTL: '120',
      VELOCITY_ADMIN_PASSWORD: 'long-enough',
      VELOCITY_HYPERVISOR: 'SIM',
      VELOCITY_FORWARD_ADDRESS: '192.168.1.10',
    });
    assert.equal(config.forwardAddress, '192.168.1.10');
    assert.deepEqual(
      [config.host, config.port, config.dataDir, config.basePath, config.trustProxy, config.authkeyTtlSeconds, config.adminPassword, config.hypervisor],
      ['0.0.0.0', 9000, '/var/lib/velocity', '/velocity', ['127.0.0.1', '10.0.0.0/8'], 120, 'long-enough', 'sim'],
    );
  });

  it('VELOCITY_DATABASE_URL: unset keeps the SQLite file; a postgres:// URL is taken as given; anything else is a ConfigError', () => {
    assert.equal(loadConfig({}).databaseUrl, undefined);
    const url = 'postgres://velocity:secret@db.example:5432/velocity';
    assert.equal(loadConfig({ VELOCITY_DATABASE_URL: ` ${url} ` }).databaseUrl, url);
    assert.equal(loadConfig({ VELOCITY_DATABASE_URL: 'postgresql://db/velocity' }).databaseUrl, 'postgresql://db/velocity');
    for (const wrong of ['mysql://db/velocity', 'db.example:5432', 'postgres://', 'postgres://db/has space']) {
      assert.throws(() => loadConfig({ VELOCITY_DATABASE_URL: wrong }), (error: unknown) => error instanceof ConfigError && /VELOCITY_DATABASE_URL/.test(error.message), wrong);
    }
  });

  const bad: Array<[string, string]> = [
    ['VELOCITY_PORT', 'eighty'],
    ['VELOCITY_PORT', '70000'],
    ['VELOCITY_AUTHKEY_TTL', '0'],
    ['VELOCITY_BASE_PATH', 'no-slash'],
    ['VELOCITY_TRUST_PROXY', 'maybe'],
    ['VELOCITY_HYPERVISOR', 'hyperv'],
    ['VELOCITY_ADMIN_PASSWORD', 'short'],
    ['VELOCITY_FORWARD_ADDRESS', '::1'],
    ['VELOCITY_FORWARD_ADDRESS', '127.0.0.1,hostfwd=tcp::22-:22'],
    ['VELOCITY_DATABASE_URL', 'sqlite:///var/lib/velocity.db'],
    ['VELOCITY_NODE_HEARTBEAT', '0'],
    ['VELOCITY_SHARED_STORAGE_DIR', 'relative/images'],
  ];
  for (const [name, value] of bad) {
    it(`the server refuses ${name}=${value} with one line naming it and a non-zero exit`, () => {
      const result = spawnSync(process.execPath, [MAIN], {
        env: { PATH: process.env.PATH, [name]: value, VELOCITY_DATA_DIR: '/nonexistent-velocity-test' },
        encoding: 'utf8',
        timeout: 20_000,
      });
      assert.notEqual(result.status, 0);
      const lines = result.stderr.trim().split('\n');
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0], new RegExp(name));
    });
  }
});

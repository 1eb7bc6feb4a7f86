import { isIPv4 } from 'node:net';
import { hostname } from 'node:os';
import { isAbsolute, resolve } from 'node:path';

export type HypervisorChoice = 'auto' | 'vz' | 'qemu' | 'sim';
export type QemuAccel = 'auto' | 'kvm' | 'tcg';

/** A configuration value that cannot be used; the message names the variable. */
export class ConfigError extends Error {}

/**
 * The server's configuration, read once from environment variables at start.
 * Every field is validated here so that a bad value stops the process with one clear
 * line instead of failing later in some request.
 */
export class AppConfig {
  readonly host: string;
  readonly port: number;
  /** Absolute path; holds the SQLite file, disk images and per-VM directories. */
  readonly dataDir: string;
  /** '' or a path like '/velocity' (leading slash, no trailing slash). */
  readonly basePath: string;
  /** Fastify's trustProxy: false, true, a hop count, or a list of addresses/CIDRs. */
  readonly trustProxy: boolean | number | string[];
  readonly authkeyTtlSeconds: number;
  readonly adminPassword: string | undefined;
  readonly hypervisor: HypervisorChoice;
  readonly qemuAccel: QemuAccel;
  /** Largest accepted upload for storage images, in bytes. */
  readonly uploadLimitBytes: number;
  /** How long a graceful stop request waits for the guest before answering STOPPING. */
  readonly gracefulStopSeconds: number;
  /** Login attempts allowed per minute, per client address and per username. */
  readonly loginAttemptsPerMinute: number;
  /** How long a WebSocket upgrade may wait for its answer before its socket is destroyed. */
  readonly upgradeTimeoutSeconds: number;
  /** How many past VM events GET /v/events keeps for clients resuming with Last-Event-ID. */
  readonly eventBacklog: number;
  /** Seconds between the comment lines an idle event stream sends so proxies keep it open. */
  readonly eventHeartbeatSeconds: number;
  /** The host address (IPv4) on which VMs' forwarded ports listen. */
  readonly forwardAddress: string;
  /** Days audit records are kept; 0 keeps them forever. */
  readonly auditRetentionDays: number;
  /** A postgres:// URL: the cluster's shared database instead of the SQLite file. */
  readonly databaseUrl: string | undefined;
  /** This server's name among the nodes of a cluster (the host name by default). */
  readonly nodeName: string;
  /** How the other nodes reach this one (http://host:port of this server by default). */
  readonly nodeUrl: string;
  /** Seconds between this node's heartbeats; a node is online while its last one is under three intervals old. */
  readonly nodeHeartbeatSeconds: number;
  /** A directory every node of the cluster mounts (NFS, CephFS …): images live there, reachable from every node. */
  readonly sharedStorageDir: string | undefined;

  constructor(values: Omit<AppConfig, 'databasePath'>) {
    Object.assign(this, values);
  }

  get databasePath(): string {
    return resolve(this.dataDir, 'velocity.sqlite');
  }
}

type Env = Record<string, string | undefined>;

/** A node name: VELOCITY_NODE_NAME, and the `node` of VMs and storage. */
export const NODE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
  const value = Number(raw.trim());
  if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = raw.trim().toLowerCase() as T;
  if (!allowed.includes(value)) throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
  return value;
}

function basePath(env: Env): string {
  const raw = (env.VELOCITY_BASE_PATH ?? '').trim();
  if (raw === '' || raw === '/') return '';
  if (!/^\/[A-Za-z0-9._~\-/]*$/.test(raw) || raw.includes('//')) {
    throw new ConfigError(`VELOCITY_BASE_PATH must be a URL path such as /velocity, got "${raw}"`);
  }
  return raw.replace(/\/+$/, '');
}

function trustProxy(env: Env): boolean | number | string[] {
  const raw = (env.VELOCITY_TRUST_PROXY ?? '').trim();
  if (raw === '' || raw === 'false' || raw === '0') return false;
  if (raw === 'true') return true;
  if (/^\d+$/.test(raw)) return Number(raw);
  const entries = raw.split(',').map((s) => s.trim());
  const address = /^[0-9a-fA-F:.]+(\/\d{1,3})?$/;
  if (entries.some((e) => !address.test(e))) {
    throw new ConfigError(
      `VELOCITY_TRUST_PROXY must be true, false, a hop count or a comma-separated list of addresses/CIDRs, got "${raw}"`,
    );
  }
  return entries;
}

function databaseUrl(env: Env): string | undefined {
  const raw = env.VELOCITY_DATABASE_URL?.trim();
  if (!raw) return undefined;
  if (!/^postgres(ql)?:\/\/\S+$/.test(raw)) {
    throw new ConfigError('VELOCITY_DATABASE_URL must be a PostgreSQL URL such as postgres://user@host/velocity');
  }
  return raw;
}

function httpUrl(env: Env, name: string, fallback: string): string {
  const raw = env[name]?.trim() || fallback;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be an http(s) URL such as http://host-a:8080, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${name} must be an http(s) URL such as http://host-a:8080, got "${raw}"`);
  }
  return raw.replace(/\/+$/, '');
}

function absolutePath(env: Env, name: string): string | undefined {
  const raw = env[name]?.trim();
  if (!raw) return undefined;
  if (!isAbsolute(raw)) throw new ConfigError(`${name} must be an absolute path, got "${raw}"`);
  return resolve(raw);
}

/** Reads and validates the configuration; throws ConfigError naming the bad variable. */
export function loadConfig(env: Env = process.env): AppConfig {
  const dataDirRaw = env.VELOCITY_DATA_DIR?.trim() || './data';
  const adminPassword = env.VELOCITY_ADMIN_PASSWORD;
  if (adminPassword !== undefined && adminPassword !== '' && adminPassword.length < 8) {
    throw new ConfigError('VELOCITY_ADMIN_PASSWORD must be at least 8 characters long');
  }
  const forwardAddress = env.VELOCITY_FORWARD_ADDRESS?.trim() || '127.0.0.1';
  // QEMU's hostfwd takes a dotted IPv4 address (0.0.0.0: every interface).
  if (!isIPv4(forwardAddress)) throw new ConfigError(`VELOCITY_FORWARD_ADDRESS must be an IPv4 address such as 127.0.0.1, got "${forwardAddress}"`);
  const host = env.VELOCITY_HOST?.trim() || '127.0.0.1';
  if (/\s/.test(host)) throw new ConfigError(`VELOCITY_HOST must be a host name or address, got "${host}"`);
  const port = integer(env, 'VELOCITY_PORT', 8080, 0, 65535);
  // The host name, made a valid node name, unless one is given.
  const nodeName = env.VELOCITY_NODE_NAME?.trim() || hostname().replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 63) || 'velocity';
  if (!NODE_NAME_PATTERN.test(nodeName)) {
    throw new ConfigError(`VELOCITY_NODE_NAME must be 1-63 letters, digits, dots, dashes or underscores, got "${nodeName}"`);
  }
  const reachableHost = host === '0.0.0.0' || host === '::' ? hostname() : host;
  return new AppConfig({
    host,
    port,
    dataDir: isAbsolute(dataDirRaw) ? dataDirRaw : resolve(process.cwd(), dataDirRaw),
    basePath: basePath(env),
    trustProxy: trustProxy(env),
    authkeyTtlSeconds: integer(env, 'VELOCITY_AUTHKEY_TTL', 3600, 1, 31_536_000),
    adminPassword: adminPassword === '' ? undefined : adminPassword,
    hypervisor: oneOf(env, 'VELOCITY_HYPERVISOR', ['auto', 'vz', 'qemu', 'sim'] as const, 'auto'),
    qemuAccel: oneOf(env, 'VELOCITY_QEMU_ACCEL', ['auto', 'kvm', 'tcg'] as const, 'auto'),
    uploadLimitBytes: integer(env, 'VELOCITY_UPLOAD_LIMIT_MB', 65_536, 1, 16_777_216) * 1024 * 1024,
    gracefulStopSeconds: integer(env, 'VELOCITY_STOP_TIMEOUT', 30, 0, 3600),
    loginAttemptsPerMinute: integer(env, 'VELOCITY_LOGIN_ATTEMPTS_PER_MINUTE', 10, 1, 100_000),
    upgradeTimeoutSeconds: integer(env, 'VELOCITY_UPGRADE_TIMEOUT', 10, 1, 300),
    eventBacklog: integer(env, 'VELOCITY_EVENT_BACKLOG', 10_000, 1, 1_000_000),
    eventHeartbeatSeconds: integer(env, 'VELOCITY_EVENT_HEARTBEAT', 15, 1, 3600),
    forwardAddress,
    auditRetentionDays: integer(env, 'VELOCITY_AUDIT_RETENTION_DAYS', 90, 0, 36_500),
    databaseUrl: databaseUrl(env),
    nodeName,
    nodeHeartbeatSeconds: integer(env, 'VELOCITY_NODE_HEARTBEAT', 2, 1, 3600),
    sharedStorageDir: absolutePath(env, 'VELOCITY_SHARED_STORAGE_DIR'),
    nodeUrl: httpUrl(env, 'VELOCITY_NODE_URL', `http://${reachableHost.includes(':') ? `[${reachableHost}]` : reachableHost}:${port}`),
  });
}

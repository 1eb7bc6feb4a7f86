import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { ApiError } from '../../common/errors/api-error';
import type { DeriveRequest, DeriveResult } from './password-hash.worker';

// scrypt with N=2^15, r=8, p=1 takes 32 MiB and tens of milliseconds per hash: memory-hard
// enough to make offline guessing expensive, cheap enough for a login endpoint.
const COST = { N: 1 << 15, r: 8, p: 1 };
const KEY_LENGTH = 64;

/** Hashes waiting beyond this are refused with 429: a burst waits at most ~1 s, never without bound. */
const MAX_WAITING = 16;

function maxmem(N: number, r: number): number {
  return 128 * N * r * 2;
}

interface Pending {
  resolve: (key: Buffer) => void;
  reject: (error: Error) => void;
}

/**
 * Password hashes (scrypt), computed one at a time on a worker thread of their own. Not on
 * the event loop, and not on libuv's thread pool either: that pool has four threads and the
 * sqlite3 driver runs every statement on it, so a burst of logins hashing there stalled all
 * database work. Stored form: `scrypt$N$r$p$<salt b64>$<hash b64>`, so the cost can change.
 */
@Injectable()
export class PasswordHasher implements OnModuleDestroy {
  private worker?: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private dummyHash?: Promise<string>;

  async hash(password: string): Promise<string> {
    const salt = randomBytes(16);
    const hash = await this.derive(password, salt, KEY_LENGTH, COST);
    return ['scrypt', COST.N, COST.r, COST.p, salt.toString('base64'), hash.toString('base64')].join('$');
  }

  async verify(password: string, stored: string): Promise<boolean> {
    const [scheme, n, r, p, saltB64, hashB64] = stored.split('$');
    if (scheme !== 'scrypt' || !hashB64) return false;
    const expected = Buffer.from(hashB64, 'base64');
    const actual = await this.derive(password, Buffer.from(saltB64, 'base64'), expected.length, { N: Number(n), r: Number(r), p: Number(p) });
    return actual.length === expected.length && timingSafeEqual(actual, expected);
  }

  /** Spends a verification's time on a username that does not exist, so timing does not tell. */
  async verifyUnknownUser(password: string): Promise<false> {
    this.dummyHash ??= this.hash(randomBytes(16).toString('hex'));
    await this.verify(password, await this.dummyHash);
    return false;
  }

  /** Refuses (429) at once when the hashing queue is full, before any other work is spent on a login. */
  assertCapacity(): void {
    if (this.pending.size >= MAX_WAITING) throw this.busy();
  }

  async onModuleDestroy(): Promise<void> {
    await this.worker?.terminate();
  }

  private derive(password: string, salt: Buffer, keyLength: number, cost: { N: number; r: number; p: number }): Promise<Buffer> {
    if (this.pending.size >= MAX_WAITING) return Promise.reject(this.busy());
    const id = this.nextId++;
    const request: DeriveRequest = { id, password, salt, keyLength, cost: { ...cost, maxmem: maxmem(cost.N, cost.r) } };
    return new Promise<Buffer>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.thread().postMessage(request);
    });
  }

  private busy(): ApiError {
    return new ApiError('RATE_LIMITED', 'Too many passwords are being checked at once; retry in a second', {}, 1);
  }

  /** The worker, started on first use and again after it died (its waiting hashes fail). */
  private thread(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(join(__dirname, 'password-hash.worker.js'));
    worker.unref(); // an idle hasher must not keep the process alive
    worker.on('message', (result: DeriveResult) => {
      const pending = this.pending.get(result.id);
      this.pending.delete(result.id);
      if ('key' in result) pending?.resolve(Buffer.from(result.key));
      else pending?.reject(new Error(`password hashing failed: ${result.error}`));
    });
    worker.on('exit', (code) => {
      this.worker = undefined;
      for (const { reject } of this.pending.values()) reject(new Error(`the password hashing thread exited (${code})`));
      this.pending.clear();
    });
    this.worker = worker;
    return worker;
  }
}

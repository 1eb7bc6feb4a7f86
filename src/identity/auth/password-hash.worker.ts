import { scryptSync } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

/** A scrypt request from PasswordHasher; salt as bytes, cost as stored with the hash. */
export interface DeriveRequest {
  id: number;
  password: string;
  salt: Uint8Array;
  keyLength: number;
  cost: { N: number; r: number; p: number; maxmem: number };
}

export type DeriveResult = { id: number; key: Uint8Array } | { id: number; error: string };

// Synchronous on purpose: this thread exists to do this one thing, and the asynchronous
// scrypt would put the work back on libuv's thread pool, shared by the whole process.
parentPort?.on('message', ({ id, password, salt, keyLength, cost }: DeriveRequest) => {
  try {
    const key = scryptSync(password, salt, keyLength, cost);
    parentPort!.postMessage({ id, key } satisfies DeriveResult);
  } catch (error) {
    parentPort!.postMessage({ id, error: (error as Error).message } satisfies DeriveResult);
  }
});

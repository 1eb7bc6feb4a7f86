import { Injectable } from '@nestjs/common';
import { AuthenticatedUser } from './authenticated-user';

export interface AuthkeyCacheEntry {
  user: AuthenticatedUser;
  /** Unix seconds, as stored with the key. */
  expiresAt: number;
}

const MAX_ENTRIES = 10_000;

/**
 * Resolved authkeys, so that an authenticated request does not pay a database round trip
 * for its identity. Correct only because one server process owns the database: every write
 * that changes what a key resolves to (logout, renewal, user deletion, membership and group
 * changes) goes through the identity services, which drop the affected entries at once.
 */
@Injectable()
export class AuthkeyCache {
  private readonly entries = new Map<string, AuthkeyCacheEntry>();

  get(keyHash: string, now: number): AuthkeyCacheEntry | undefined {
    const entry = this.entries.get(keyHash);
    if (!entry) return undefined;
    if (entry.expiresAt <= now) {
      this.entries.delete(keyHash);
      return undefined;
    }
    return entry;
  }

  set(keyHash: string, user: AuthenticatedUser, expiresAt: number): void {
    if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(keyHash, { user, expiresAt });
  }

  forget(keyHash: string): void {
    this.entries.delete(keyHash);
  }

  /** After any change to users, groups or memberships: memberships are part of every entry. */
  clear(): void {
    this.entries.clear();
  }
}

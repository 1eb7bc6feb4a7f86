import { Injectable } from '@nestjs/common';
import { LiveStreams } from '../../common/live-streams';
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
 * Those same points are what can end a long-lived stream's right to exist, so dropping
 * entries also tells LiveStreams: one report of the change, two consumers.
 */
@Injectable()
export class AuthkeyCache {
  private readonly entries = new Map<string, AuthkeyCacheEntry>();

  constructor(private readonly liveStreams: LiveStreams) {}

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

  /** The key was revoked or renewed: its cached resolution goes, and so do its open streams. */
  forget(keyHash: string): void {
    this.entries.delete(keyHash);
    this.liveStreams.authkeyDropped(keyHash);
  }

  /**
   * After any change to users, groups or memberships: memberships are part of every entry,
   * and every open stream checks again whether its holder may still have it.
   */
  clear(): void {
    this.entries.clear();
    this.liveStreams.membershipsChanged();
  }
}

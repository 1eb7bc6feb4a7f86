import { Injectable } from '@nestjs/common';
import { AccessChanges, ReadThroughCache } from '../../common/access-changes';
import { AuthenticatedUser } from './authenticated-user';

export interface AuthkeyCacheEntry {
  user: AuthenticatedUser;
  /** Unix seconds, as stored with the key; null for an API token without expiry. */
  expiresAt: number | null;
}

const MAX_ENTRIES = 10_000;

/**
 * Resolved authkeys and API tokens (by the hash of their secret), so that an authenticated request does not pay a database round trip
 * for its identity. Kept exact by AccessChanges: every write that changes what a key
 * resolves to (logout, renewal, token revocation, user deletion, membership and group changes) publishes a
 * change, and the affected entries go at once (ReadThroughCache also keeps no read that
 * overlapped a change).
 */
@Injectable()
export class AuthkeyCache {
  private readonly entries = new ReadThroughCache<string, AuthkeyCacheEntry>(MAX_ENTRIES);

  constructor(changes: AccessChanges) {
    changes.subscribe((change) => {
      if (change.kind === 'authkey-dropped') this.entries.delete(change.keyHash);
      // Memberships are part of every entry.
      else if (change.kind === 'memberships-changed' || change.kind === 'group-deleted' || change.kind === 'everything-changed') this.entries.clear();
    });
  }

  /** The key's resolution, from memory or else from `load`; null when unknown or expired by `now`. */
  async resolve(keyHash: string, now: number, load: () => Promise<AuthkeyCacheEntry | null>): Promise<AuthkeyCacheEntry | null> {
    const entry = await this.entries.get(keyHash, load);
    if (entry && entry.expiresAt !== null && entry.expiresAt <= now) {
      this.entries.delete(keyHash);
      return null;
    }
    return entry;
  }
}

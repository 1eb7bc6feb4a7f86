import { Injectable } from '@nestjs/common';
import { AccessChanges } from '../../common/access-changes';
import { AuthenticatedUser } from './authenticated-user';

export interface AuthkeyCacheEntry {
  user: AuthenticatedUser;
  /** Unix seconds, as stored with the key. */
  expiresAt: number;
}

const MAX_ENTRIES = 10_000;

/**
 * Resolved authkeys, so that an authenticated request does not pay a database round trip
 * for its identity. Kept exact by AccessChanges: every write that changes what a key
 * resolves to (logout, renewal, user deletion, membership and group changes) publishes a
 * change, and the affected entries go at once.
 */
@Injectable()
export class AuthkeyCache {
  private readonly entries = new Map<string, AuthkeyCacheEntry>();
  /** Counts the changes heard; a resolution read across one is not kept (see `set`). */
  private changesHeard = 0;

  constructor(changes: AccessChanges) {
    changes.subscribe((change) => {
      if (change.kind === 'authkey-dropped') this.entries.delete(change.keyHash);
      // Memberships are part of every entry.
      else if (change.kind === 'memberships-changed' || change.kind === 'group-deleted') this.entries.clear();
      else return;
      this.changesHeard++;
    });
  }

  /** Take before reading a key's resolution from the database; hand to `set`. */
  get generation(): number {
    return this.changesHeard;
  }

  get(keyHash: string, now: number): AuthkeyCacheEntry | undefined {
    const entry = this.entries.get(keyHash);
    if (!entry) return undefined;
    if (entry.expiresAt <= now) {
      this.entries.delete(keyHash);
      return undefined;
    }
    return entry;
  }

  /** Keeps a resolution unless a change was heard since `generation` (the read may predate it). */
  set(keyHash: string, user: AuthenticatedUser, expiresAt: number, generation: number): void {
    if (generation !== this.changesHeard) return;
    if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(keyHash, { user, expiresAt });
  }
}

import { Injectable } from '@nestjs/common';

/**
 * A committed (or rolled back) write that may change who may do what. Each is a plain,
 * serializable message naming what changed, so that the same messages travel between the
 * servers of a cluster (src/cluster) as they are delivered in-process.
 */
export type AccessChange =
  /** An authkey was revoked or renewed, or an API token revoked (`keyHash`: the hash of its secret). */
  | { kind: 'authkey-dropped'; keyHash: string }
  /** A user's groups changed (assigned, unassigned) or a user was deleted. */
  | { kind: 'memberships-changed' }
  /** A group is gone, with its memberships, its shares and the catalogs it owned. */
  | { kind: 'group-deleted'; gid: string }
  /** A catalog was created, deleted, or its owner, label or shares changed. */
  | { kind: 'catalog-changed'; cid: string }
  /** A VM left catalog `cid` (deleted, or moved elsewhere). */
  | { kind: 'vm-changed'; vmid: string; cid: string }
  /**
   * A VM's rows changed (definition, attachments, recorded state or error) without changing
   * who may see it: the in-memory copies of VM rows drop it.
   */
  | { kind: 'vm-record-changed'; vmid: string }
  /** A VM was added to, removed from or renamed in catalog `cid`: its list of VMs changed. */
  | { kind: 'catalog-vms-changed'; cid: string }
  /** A group's quota limits were set or cleared. */
  | { kind: 'quota-changed'; gid: string }
  /**
   * Anything may have changed: this server may have missed changes made on another node (its
   * connection to the cluster's database broke). Every cache drops everything, every stream
   * is checked again.
   */
  | { kind: 'everything-changed' };

export type AccessChangeListener = (change: AccessChange) => void;

/**
 * The one way to say that access may have changed, and the one place that hears it: the
 * caches of authorization state (authkeys, catalogs, VMs' catalogs) and of VM rows drop
 * what the change touches, and LiveStreams re-checks the open streams it concerns. Writers publish after the
 * write has committed or rolled back (in `finally`), so that a cached read which overlapped
 * the write, and may have seen it uncommitted, is never kept (see ReadThroughCache).
 * Listeners run synchronously, so every cache has dropped its entries before `publish`
 * returns and before any stream's re-check runs.
 */
@Injectable()
export class AccessChanges {
  private readonly listeners: AccessChangeListener[] = [];
  private outbound: AccessChangeListener | undefined;

  subscribe(listener: AccessChangeListener): void {
    this.listeners.push(listener);
  }

  /** A change made here: this server's listeners hear it, then the other nodes (relayTo). */
  publish(change: AccessChange): void {
    this.deliver(change);
    this.outbound?.(change);
  }

  /** A change to be heard here only: one another node published (never sent back out). */
  deliver(change: AccessChange): void {
    for (const listener of this.listeners) listener(change);
  }

  /** In a cluster, every change published here is also handed to `outbound` (the cluster relay). */
  relayTo(outbound: AccessChangeListener): void {
    this.outbound = outbound;
  }
}

/**
 * A memo of reads from the database, kept exact by AccessChanges: an entry is dropped when a
 * change touches it, and a read that was under way when any change was published is not
 * kept, because it may have seen the write before it committed or rolled back. Null
 * (nothing found) is not kept, so unknown ids cannot fill it. At most `maxEntries`; the
 * oldest goes first.
 */
export class ReadThroughCache<K, V> {
  private readonly entries = new Map<K, V>();
  private generation = 0;

  constructor(private readonly maxEntries: number) {}

  async get(key: K, load: () => Promise<V | null>): Promise<V | null> {
    const hit = this.entries.get(key);
    if (hit !== undefined) return hit;
    const generation = this.generation;
    const value = await load();
    if (value !== null && generation === this.generation) this.keep(key, value);
    return value;
  }

  /**
   * The values of `keys` that exist, reading all those not in memory with one call of
   * `loadMany` (which returns what it found, by key).
   */
  async getMany(keys: readonly K[], loadMany: (missing: K[]) => Promise<Map<K, V>>): Promise<Map<K, V>> {
    const found = new Map<K, V>();
    const missing: K[] = [];
    for (const key of keys) {
      const hit = this.entries.get(key);
      if (hit === undefined) missing.push(key);
      else found.set(key, hit);
    }
    if (missing.length === 0) return found;
    const generation = this.generation;
    const loaded = await loadMany(missing);
    for (const [key, value] of loaded) {
      found.set(key, value);
      if (generation === this.generation) this.keep(key, value);
    }
    return found;
  }

  delete(key: K): void {
    this.entries.delete(key);
    this.generation++;
  }

  clear(): void {
    this.entries.clear();
    this.generation++;
  }

  private keep(key: K, value: V): void {
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, value);
  }
}

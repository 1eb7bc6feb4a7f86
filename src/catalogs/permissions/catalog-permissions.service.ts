import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AccessChanges, ReadThroughCache } from '../../common/access-changes';
import { isPostgres, withPlaceholders } from '../../database/dialect';
import { AuthenticatedUser } from '../../identity/auth/authenticated-user';
import { ALL_PERMISSIONS, anyPermission, CATALOG_PERMISSIONS, CatalogPermission, PermissionSet, permissionSet, Share } from './catalog-permission';

export interface CatalogAccess {
  cid: string;
  label: string;
  /** The owning group. */
  gid: string;
  groupname: string;
  permissions: PermissionSet;
}

export interface Page {
  limit: number;
  offset: number;
}

type Row = { cid: string; label: string; gid: string; groupname: string } & Record<CatalogPermission, number | boolean | null>;

/** What decides access to one catalog, whoever asks: its owner and its shares. */
interface CatalogFacts {
  cid: string;
  label: string;
  gid: string;
  groupname: string;
  /** Share flags by group. */
  shares: Map<string, PermissionSet>;
}

/** Whether any of the caller's groups' shares grants each permission (SQLite's booleans are 0/1, PostgreSQL's are not numbers). */
const flagColumns = (aggregate: 'MAX' | 'BOOL_OR') => CATALOG_PERMISSIONS.map((p) => `${aggregate}(s."${p}") AS "${p}"`).join(', ');

/** Catalogs whose facts are kept; a catalog not among them costs two indexed queries. */
const MAX_CACHED_CATALOGS = 100_000;
/** Pages of catalog lists kept, by group set and page. */
const MAX_CACHED_LISTS = 10_000;

/**
 * The permission model, in one place: a user in `root` or in the catalog's owning group has
 * all seven permissions; anyone else has the union of the shares of the groups they are in.
 * Answers come from memory: each catalog's owner and shares, and each page of the catalog
 * list per group set, are read from the database once and kept until AccessChanges reports
 * a change to them (a catalog's shares or deletion, a group's deletion; any catalog change
 * for the lists). A miss costs a fixed number of indexed queries, whatever the number of
 * catalogs, shares or groups.
 *
 * A caller that is an API token limited to catalogs gets, on each of them, the intersection
 * of its user's permissions now and the token's, and nothing elsewhere: that is decided here
 * (withinTokenScope), so every check (the HTTP guard, streams, each event) applies it.
 */
@Injectable()
export class CatalogPermissionsService {
  private readonly catalogs = new ReadThroughCache<string, CatalogFacts>(MAX_CACHED_CATALOGS);
  private readonly lists = new ReadThroughCache<string, { items: CatalogAccess[]; total: number }>(MAX_CACHED_LISTS);

  private readonly flagColumns: string;

  constructor(
    private readonly dataSource: DataSource,
    changes: AccessChanges,
  ) {
    this.flagColumns = flagColumns(isPostgres(dataSource) ? 'BOOL_OR' : 'MAX');
    changes.subscribe((change) => {
      if (change.kind === 'catalog-changed') {
        this.catalogs.delete(change.cid);
        this.lists.clear();
      } else if (change.kind === 'group-deleted' || change.kind === 'everything-changed') {
        // A group's shares went with it, from catalogs that cannot be named here (or anything changed).
        this.catalogs.clear();
        this.lists.clear();
      }
    });
  }

  /** The caller's access to one catalog; null if it does not exist. */
  async resolve(user: AuthenticatedUser, cid: string): Promise<CatalogAccess | null> {
    const facts = await this.catalogs.get(cid, () => this.readFacts(cid));
    if (!facts) return null;
    const full = user.isRoot || user.groupIds.has(facts.gid);
    const shares = full ? [] : [...user.groupIds].flatMap((gid) => facts.shares.get(gid) ?? []);
    const permissions = full ? ALL_PERMISSIONS : permissionSet((p) => shares.some((share) => share[p]));
    return { cid: facts.cid, label: facts.label, gid: facts.gid, groupname: facts.groupname, permissions: withinTokenScope(user, cid, permissions) };
  }

  /** The catalog's shares, ordered by group id; null if it does not exist. */
  async sharesOf(cid: string): Promise<Share[] | null> {
    const facts = await this.catalogs.get(cid, () => this.readFacts(cid));
    if (!facts) return null;
    return [...facts.shares].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([gid, permissions]) => ({ gid, ...permissions }));
  }

  /** The catalogs the caller can see, with the caller's permissions on each. */
  listVisible(user: AuthenticatedUser, page: Page): Promise<{ items: CatalogAccess[]; total: number }> {
    const scope = user.token?.scope.catalogs;
    if (scope) return this.listWithinScope(user, [...scope.keys()], page);
    // Everything the answer depends on: root or not, the groups, the page.
    const key = `${user.isRoot ? 'root' : [...user.groupIds].sort().join(',')}|${page.limit}|${page.offset}`;
    return this.lists.get(key, () => this.readVisible(user, page)) as Promise<{ items: CatalogAccess[]; total: number }>;
  }

  /** A token's catalogs (at most a hundred), each resolved as for a request, in the list's order. */
  private async listWithinScope(user: AuthenticatedUser, cids: string[], page: Page): Promise<{ items: CatalogAccess[]; total: number }> {
    const resolved = await Promise.all(cids.map((cid) => this.resolve(user, cid)));
    const visible = resolved.filter((access): access is CatalogAccess => access !== null && anyPermission(access.permissions));
    // As the SQL list orders them: by label, then id, comparing code units.
    const byCodeUnits = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
    visible.sort((a, b) => byCodeUnits(a.label, b.label) || byCodeUnits(a.cid, b.cid));
    return { items: visible.slice(page.offset, page.offset + page.limit), total: visible.length };
  }

  /** One catalog's owner and shares: two indexed queries. */
  private async readFacts(cid: string): Promise<CatalogFacts | null> {
    const [catalog]: Array<{ cid: string; label: string; gid: string; groupname: string }> = await this.dataSource.query(
      withPlaceholders(this.dataSource, 'SELECT c.cid, c.label, c.gid, g.groupname FROM catalogs c JOIN groups g ON g.gid = c.gid WHERE c.cid = ?'),
      [cid],
    );
    if (!catalog) return null;
    const columns = CATALOG_PERMISSIONS.map((p) => `"${p}"`).join(', ');
    const shares: Array<{ gid: string } & Record<CatalogPermission, number | boolean>> = await this.dataSource.query(
      withPlaceholders(this.dataSource, `SELECT gid, ${columns} FROM catalog_shares WHERE cid = ?`),
      [cid],
    );
    return { ...catalog, shares: new Map(shares.map((row) => [row.gid, permissionSet((p) => Number(row[p]) === 1)])) };
  }

  /** Two queries. */
  private async readVisible(user: AuthenticatedUser, page: Page): Promise<{ items: CatalogAccess[]; total: number }> {
    const gids = [...user.groupIds];
    const inGroups = placeholders(gids);
    const anyFlag = CATALOG_PERMISSIONS.map((p) => `"${p}"`).join(' OR ');
    // Candidates come from two indexed lookups (owned by a caller's group, shared with one);
    // root sees every catalog.
    const visible = user.isRoot
      ? 'SELECT cid FROM catalogs'
      : `SELECT cid FROM catalogs WHERE gid IN (${inGroups})
         UNION SELECT cid FROM catalog_shares WHERE gid IN (${inGroups}) AND (${anyFlag})`;
    const visibleParams = user.isRoot ? [] : [...gids, ...gids];
    const rows: Row[] = await this.dataSource.query(
      withPlaceholders(
        this.dataSource,
        `SELECT c.cid, c.label, c.gid, g.groupname, ${this.flagColumns}
         FROM catalogs c
         JOIN groups g ON g.gid = c.gid
         LEFT JOIN catalog_shares s ON s.cid = c.cid AND s.gid IN (${inGroups})
        WHERE c.cid IN (${visible})
        GROUP BY c.cid, g.groupname
        ORDER BY c.label, c.cid
        LIMIT ? OFFSET ?`,
      ),
      [...gids, ...visibleParams, page.limit, page.offset],
    );
    const [{ total }] = await this.dataSource.query(withPlaceholders(this.dataSource, `SELECT COUNT(*) AS total FROM (${visible}) AS visible`), visibleParams);
    return { items: rows.map((row) => this.toAccess(user, row)), total: Number(total) };
  }

  private toAccess(user: AuthenticatedUser, row: Row): CatalogAccess {
    const full = user.isRoot || user.groupIds.has(row.gid);
    return {
      cid: row.cid,
      label: row.label,
      gid: row.gid,
      groupname: row.groupname,
      permissions: full ? ALL_PERMISSIONS : permissionSet((p) => Number(row[p]) === 1),
    };
  }
}

/** `permissions` narrowed to what the caller's API token may use on catalog `cid` (unchanged for a token without a catalog list, or no token). */
function withinTokenScope(user: AuthenticatedUser, cid: string, permissions: PermissionSet): PermissionSet {
  const scope = user.token?.scope.catalogs;
  if (!scope) return permissions;
  const granted = scope.get(cid) ?? [];
  return permissionSet((p) => permissions[p] && granted.includes(p));
}

/** `?, ?, ?` for a list; `NULL` for an empty one, so `IN (NULL)` matches nothing. */
function placeholders(values: unknown[]): string {
  return values.length ? values.map(() => '?').join(', ') : 'NULL';
}

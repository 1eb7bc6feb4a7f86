import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuthenticatedUser } from '../../identity/auth/authenticated-user';
import { ALL_PERMISSIONS, CATALOG_PERMISSIONS, CatalogPermission, PermissionSet, permissionSet } from './catalog-permission';

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

type Row = { cid: string; label: string; gid: string; groupname: string } & Record<CatalogPermission, number | null>;

const FLAG_COLUMNS = CATALOG_PERMISSIONS.map((p) => `MAX(s."${p}") AS "${p}"`).join(', ');

/**
 * The permission model, in one place: a user in `root` or in the catalog's owning group has
 * all seven permissions; anyone else has the union of the shares of the groups they are in.
 * Each question is answered by a fixed number of indexed queries, whatever the number of
 * catalogs, shares or groups.
 */
@Injectable()
export class CatalogPermissionsService {
  constructor(private readonly dataSource: DataSource) {}

  /** The caller's access to one catalog; null if it does not exist. One query. */
  async resolve(user: AuthenticatedUser, cid: string): Promise<CatalogAccess | null> {
    const gids = [...user.groupIds];
    const rows: Row[] = await this.dataSource.query(
      `SELECT c.cid, c.label, c.gid, g.groupname, ${FLAG_COLUMNS}
         FROM catalogs c
         JOIN groups g ON g.gid = c.gid
         LEFT JOIN catalog_shares s ON s.cid = c.cid AND s.gid IN (${placeholders(gids)})
        WHERE c.cid = ?
        GROUP BY c.cid`,
      [...gids, cid],
    );
    return rows.length ? this.toAccess(user, rows[0]) : null;
  }

  /** The catalogs the caller can see, with the caller's permissions on each. Two queries. */
  async listVisible(user: AuthenticatedUser, page: Page): Promise<{ items: CatalogAccess[]; total: number }> {
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
      `SELECT c.cid, c.label, c.gid, g.groupname, ${FLAG_COLUMNS}
         FROM catalogs c
         JOIN groups g ON g.gid = c.gid
         LEFT JOIN catalog_shares s ON s.cid = c.cid AND s.gid IN (${inGroups})
        WHERE c.cid IN (${visible})
        GROUP BY c.cid
        ORDER BY c.label, c.cid
        LIMIT ? OFFSET ?`,
      [...gids, ...visibleParams, page.limit, page.offset],
    );
    const [{ total }] = await this.dataSource.query(`SELECT COUNT(*) AS total FROM (${visible})`, visibleParams);
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

/** `?, ?, ?` for a list; `NULL` for an empty one, so `IN (NULL)` matches nothing. */
function placeholders(values: unknown[]): string {
  return values.length ? values.map(() => '?').join(', ') : 'NULL';
}

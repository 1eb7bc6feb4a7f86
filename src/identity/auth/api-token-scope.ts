import type { CatalogPermission } from '../../catalogs/permissions/catalog-permission';

/** What every API token secret starts with, so secret scanners and people recognize one. */
export const API_TOKEN_PREFIX = 'vtk_';

/**
 * What an API token may do, on top of what its user may do at the moment of each request
 * (the effective rights are the intersection of the two, computed per request).
 */
export interface ApiTokenScope {
  /**
   * Null: every catalog, with the user's permissions. Else the only catalogs the token may
   * act on, each with at most these permissions; routes that act on no one catalog (storage,
   * NICs, catalog creation, user and group lists) are refused.
   */
  catalogs: ReadonlyMap<string, readonly CatalogPermission[]> | null;
  /** Only requests that change nothing (GET, HEAD); no WebSocket (a console or screen takes input). */
  readOnly: boolean;
}

/** The API token a request was authenticated with (`request.user.token`). Never holds the secret. */
export interface CallerToken {
  id: string;
  name: string;
  scope: ApiTokenScope;
}

/** HTTP methods that change nothing, the only ones a read-only token may use. */
export const READ_ONLY_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD']);

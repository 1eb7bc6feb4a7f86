/** The seven share permissions, in the seed's order. */
export const CATALOG_PERMISSIONS = ['manage', 'view', 'create', 'alter', 'remove', 'state', 'interact'] as const;
export type CatalogPermission = (typeof CATALOG_PERMISSIONS)[number];

export type PermissionSet = Record<CatalogPermission, boolean>;

/** A catalog's share with one group: the group and its flags. */
export type Share = { gid: string } & PermissionSet;

export function permissionSet(granted: (p: CatalogPermission) => boolean): PermissionSet {
  return Object.fromEntries(CATALOG_PERMISSIONS.map((p) => [p, granted(p)])) as PermissionSet;
}

export const ALL_PERMISSIONS: PermissionSet = permissionSet(() => true);
export const NO_PERMISSIONS: PermissionSet = permissionSet(() => false);

export function anyPermission(set: PermissionSet): boolean {
  return CATALOG_PERMISSIONS.some((p) => set[p]);
}

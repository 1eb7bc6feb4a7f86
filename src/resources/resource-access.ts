import { AuthenticatedUser } from '../identity/auth/authenticated-user';

/**
 * Who may see and manage a group's resources (storage, FILEHANDLE NICs): its members,
 * `poolmanager` and `root`.
 */
export function mayManageGroupResources(user: AuthenticatedUser, gid: string): boolean {
  return user.hasRight('poolmanager') || user.groupIds.has(gid);
}

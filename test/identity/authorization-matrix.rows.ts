import { MatrixRoute, RequestParts } from '../support/matrix-route';

// The rows of the /u (and /audit) authorization matrix (authorization-matrix.spec.ts), apart from it so
// the route-coverage test can read them without running the matrix.

/** What /u requests are built from. */
export interface IdentityFixture {
  /** Creates a user for a request to delete. */
  victim: (i: number) => Promise<string>;
  /** Creates a group for a request to delete. */
  group: (i: number) => Promise<string>;
  /** A user without special groups, for the group assignment requests. */
  plainUid: string;
  extraGid: string;
}

export interface IdentityEndpoint extends MatrixRoute {
  /** Who may: 'root' only, 'usermanager' (and root) or 'any' authenticated user. */
  needs: 'root' | 'usermanager' | 'any';
  /** Builds a fresh request (fresh names and victims, so allowed cases can run repeatedly). */
  request: (n: number, f: IdentityFixture) => Promise<RequestParts>;
}

export const IDENTITY_ENDPOINTS: IdentityEndpoint[] = [
  { method: 'PUT', path: '/u/user', needs: 'usermanager', request: async (i) => ({ body: { username: `new-${i}`, password: 'password-123' } }) },
  { method: 'DELETE', path: '/u/user', needs: 'usermanager', request: async (i, f) => ({ body: { uid: await f.victim(i) } }) },
  { method: 'GET', path: '/u/user', needs: 'any', request: async () => ({}) },
  { method: 'GET', path: '/u/user/list', needs: 'usermanager', request: async () => ({}) },
  { method: 'PUT', path: '/u/group', needs: 'usermanager', request: async (i) => ({ body: { groupname: `g-${i}` } }) },
  { method: 'DELETE', path: '/u/group', needs: 'usermanager', request: async (i, f) => ({ body: { gid: await f.group(i) } }) },
  { method: 'GET', path: '/u/group/list', needs: 'any', request: async () => ({}) },
  { method: 'PUT', path: '/u/group/assign', needs: 'usermanager', request: async (_i, f) => ({ body: { uid: f.plainUid, groups: [f.extraGid] } }) },
  { method: 'DELETE', path: '/u/group/assign', needs: 'usermanager', request: async (_i, f) => ({ body: { uid: f.plainUid, groups: [f.extraGid] } }) },
  // The audit log names every user's actions: root's alone, not a usermanager's.
  { method: 'GET', path: '/audit', needs: 'root', request: async () => ({ query: { limit: '10' } }) },
];

import { MatrixRoute, RequestParts } from '../support/matrix-route';

// The rows of the /u (and /audit, /nodes) authorization matrix (authorization-matrix.spec.ts), apart from it so
// the route-coverage test can read them without running the matrix.

/** What /u requests are built from. */
export interface IdentityFixture {
  /** Creates a user for a request to delete. */
  victim: (i: number) => Promise<string>;
  /** Creates a group for a request to delete. */
  group: (i: number) => Promise<string>;
  /** A user without special groups, for the group assignment requests. */
  plainUid: string;
  /** The plain user's personal group. */
  plainGid: string;
  extraGid: string;
  /** An API token of the caller whose authkey this is (of root when the key is not valid), for a request to revoke. */
  ownToken: (authkey: string | undefined, i: number) => Promise<string>;
}

export interface IdentityEndpoint extends MatrixRoute {
  /**
   * Who may: 'root' only, 'usermanager' (and root), 'any' authenticated user, or a 'member'
   * of the group the request names (and usermanager, root); the plain user is no member of
   * `extraGid`.
   */
  needs: 'root' | 'usermanager' | 'any' | 'member';
  /** Whether an API token may call it: no token may manage tokens or change identities. */
  apiTokens: 'allowed' | 'refused';
  /** Builds a fresh request (fresh names and victims, so allowed cases can run repeatedly) for the caller presenting `authkey`. */
  request: (n: number, f: IdentityFixture, authkey: string | undefined) => Promise<RequestParts>;
}

export const IDENTITY_ENDPOINTS: IdentityEndpoint[] = [
  { method: 'PUT', path: '/u/user', needs: 'usermanager', apiTokens: 'refused', request: async (i) => ({ body: { username: `new-${i}`, password: 'password-123' } }) },
  { method: 'DELETE', path: '/u/user', needs: 'usermanager', apiTokens: 'refused', request: async (i, f) => ({ body: { uid: await f.victim(i) } }) },
  { method: 'GET', path: '/u/user', needs: 'any', apiTokens: 'allowed', request: async () => ({}) },
  { method: 'GET', path: '/u/user/list', needs: 'usermanager', apiTokens: 'allowed', request: async () => ({}) },
  { method: 'PUT', path: '/u/group', needs: 'usermanager', apiTokens: 'refused', request: async (i) => ({ body: { groupname: `g-${i}` } }) },
  { method: 'DELETE', path: '/u/group', needs: 'usermanager', apiTokens: 'refused', request: async (i, f) => ({ body: { gid: await f.group(i) } }) },
  { method: 'GET', path: '/u/group/list', needs: 'any', apiTokens: 'allowed', request: async () => ({}) },
  { method: 'PUT', path: '/u/group/assign', needs: 'usermanager', apiTokens: 'refused', request: async (_i, f) => ({ body: { uid: f.plainUid, groups: [f.extraGid] } }) },
  { method: 'DELETE', path: '/u/group/assign', needs: 'usermanager', apiTokens: 'refused', request: async (_i, f) => ({ body: { uid: f.plainUid, groups: [f.extraGid] } }) },
  { method: 'PUT', path: '/u/token', needs: 'any', apiTokens: 'refused', request: async (i) => ({ body: { name: `token-${i}`, read_only: true } }) },
  { method: 'GET', path: '/u/token', needs: 'any', apiTokens: 'refused', request: async () => ({}) },
  { method: 'DELETE', path: '/u/token', needs: 'any', apiTokens: 'refused', request: async (i, f, authkey) => ({ body: { id: await f.ownToken(authkey, i) } }) },
  { method: 'POST', path: '/u/group/quota', needs: 'usermanager', apiTokens: 'refused', request: async (i, f) => ({ body: { gid: f.extraGid, vms: i } }) },
  { method: 'GET', path: '/u/group/quota', needs: 'member', apiTokens: 'allowed', request: async (_i, f) => ({ query: { gid: f.extraGid } }) },
  { method: 'GET', path: '/u/group/quota', variant: 'own group', needs: 'any', apiTokens: 'allowed', request: async (_i, f) => ({ query: { gid: f.plainGid } }) },
  // The audit log names every user's actions: root's alone, not a usermanager's.
  { method: 'GET', path: '/audit', needs: 'root', apiTokens: 'allowed', request: async () => ({ query: { limit: '10' } }) },
  // The node registry holds no secret, and a caller choosing `node` for a VM needs it.
  { method: 'GET', path: '/nodes', needs: 'any', apiTokens: 'allowed', request: async () => ({}) },
];

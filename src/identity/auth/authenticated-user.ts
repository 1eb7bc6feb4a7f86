import { SpecialGroup } from '../entities/group.entity';
import type { UserEntity } from '../entities/user.entity';
import { CallerToken } from './api-token-scope';

export interface GroupRef {
  gid: string;
  groupname: string;
  special: SpecialGroup | null;
}

/**
 * Who is calling, resolved from the authkey once per request. With `token`, the caller is an
 * API token of this user: the token's scope narrows what the user may do (see ApiTokenScope).
 */
export class AuthenticatedUser {
  readonly groupIds: ReadonlySet<string>;

  constructor(
    readonly uid: string,
    readonly username: string,
    readonly groups: readonly GroupRef[],
    readonly token?: CallerToken,
  ) {
    this.groupIds = new Set(groups.map((g) => g.gid));
  }

  get isRoot(): boolean {
    return this.inSpecialGroup('root');
  }

  inSpecialGroup(special: SpecialGroup): boolean {
    return this.groups.some((g) => g.special === special);
  }

  /** Membership of a special group, where `root` counts as every group. */
  hasRight(special: SpecialGroup): boolean {
    return this.isRoot || this.inSpecialGroup(special);
  }
}

/** The caller a credential resolves to: its user with their groups, and the API token if it is one. */
export function callerOf(user: UserEntity, token?: CallerToken): AuthenticatedUser {
  return new AuthenticatedUser(
    user.uid,
    user.username,
    user.groups.map((g) => ({ gid: g.gid, groupname: g.groupname, special: g.special })),
    token,
  );
}

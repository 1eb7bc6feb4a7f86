import { SpecialGroup } from '../entities/group.entity';

export interface GroupRef {
  gid: string;
  groupname: string;
  special: SpecialGroup | null;
}

/** Who is calling, resolved from the authkey once per request. */
export class AuthenticatedUser {
  readonly groupIds: ReadonlySet<string>;

  constructor(
    readonly uid: string,
    readonly username: string,
    readonly groups: readonly GroupRef[],
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

import { Injectable } from '@nestjs/common';

/** Refuses (by throwing) when the groups cannot go, e.g. VMs elsewhere use their storage. */
export type GroupDeletionCheck = (gids: string[]) => Promise<void>;
/**
 * Removes what the groups own that the database cannot cascade (running VMs), and may return
 * work to do once the groups' rows are gone (removing image files).
 */
export type GroupDeletionCleanup = (gids: string[]) => Promise<void | (() => Promise<void>)>;

/**
 * Deleting a user (their personal group) or a group deletes what it owns. Modules that keep
 * things owned by groups register here, so identity need not know them: every check runs
 * before any cleanup, and every cleanup before the group's rows go.
 */
@Injectable()
export class GroupDeletionHooks {
  private readonly checks: GroupDeletionCheck[] = [];
  private readonly cleanups: GroupDeletionCleanup[] = [];

  registerCheck(check: GroupDeletionCheck): void {
    this.checks.push(check);
  }

  registerCleanup(cleanup: GroupDeletionCleanup): void {
    this.cleanups.push(cleanup);
  }

  /** Runs the checks, then the cleanups; returns what to run after the rows are deleted. */
  async prepare(gids: string[]): Promise<() => Promise<void>> {
    for (const check of this.checks) await check(gids);
    const afterwards: Array<() => Promise<void>> = [];
    for (const cleanup of this.cleanups) {
      const after = await cleanup(gids);
      if (after) afterwards.push(after);
    }
    return async () => {
      for (const after of afterwards) await after();
    };
  }
}

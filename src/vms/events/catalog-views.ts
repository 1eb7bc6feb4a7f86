import { CatalogAuthorizer, CatalogPermissionRequirement } from '../../catalogs/permissions/catalog-authorizer';
import { CATALOG_BY_CID } from '../../catalogs/permissions/catalog-references';
import { ApiError } from '../../common/errors/api-error';
import { AuthenticatedUser } from '../../identity/auth/authenticated-user';

/** What an event stream needs on a catalog to carry its VMs' events. */
export const VIEW_CATALOG: CatalogPermissionRequirement = { permission: 'view', reference: CATALOG_BY_CID };

/**
 * One event stream's answers to "may the caller view catalog X?", from the same
 * CatalogAuthorizer as the HTTP guard, each asked once and kept until the caller's access
 * may have changed (`renew`, from the stream's re-check). An answer that was being looked up
 * while access changed is looked up again, so a stale one is never used or kept.
 */
export class CatalogViews {
  private readonly answers = new Map<string, boolean>();
  private generation = 0;

  constructor(
    private user: AuthenticatedUser,
    private readonly authorizer: CatalogAuthorizer,
  ) {}

  /** The caller as resolved again; every answer so far is forgotten. */
  renew(user: AuthenticatedUser): void {
    this.user = user;
    this.answers.clear();
    this.generation++;
  }

  async mayView(cid: string): Promise<boolean> {
    for (;;) {
      const known = this.answers.get(cid);
      if (known !== undefined) return known;
      const generation = this.generation;
      const allowed = await this.authorizer.authorize(this.user, VIEW_CATALOG, cid).then(
        () => true,
        (error: unknown) => {
          if (error instanceof ApiError) return false;
          throw error;
        },
      );
      if (generation === this.generation) {
        this.answers.set(cid, allowed);
        return allowed;
      }
    }
  }
}

import { Injectable } from '@nestjs/common';
import { CatalogAuthorizer, CatalogPermissionRequirement } from '../catalogs/permissions/catalog-authorizer';
import { ApiError } from '../common/errors/api-error';
import { LiveStream, LiveStreams } from '../common/live-streams';
import { AuthenticatedUser } from '../identity/auth/authenticated-user';
import { AuthkeysService } from '../identity/auth/authkeys.service';

/**
 * Opens a long-lived WebSocket stream for whoever presents `key` (an authkey or API token):
 * authenticates it first (401), refuses a read-only API token (401: every WebSocket here
 * takes input, a console's keystrokes or a screen's pointer), then
 * authorizes the requirement with the same CatalogAuthorizer as the HTTP guard (400/404/401),
 * and registers the stream with LiveStreams, which runs those same two steps again whenever
 * a reported change may have ended the right, and ends the stream when they fail.
 */
@Injectable()
export class StreamAuthorizer {
  constructor(
    private readonly authkeys: AuthkeysService,
    private readonly authorizer: CatalogAuthorizer,
    private readonly liveStreams: LiveStreams,
  ) {}

  /** Who presents `key`, if anyone (for the audit record of a refused stream). */
  async identify(key: string | undefined): Promise<AuthenticatedUser | null> {
    return key ? this.authkeys.resolve(key) : null;
  }

  async open(key: string | undefined, requirement: CatalogPermissionRequirement, id: unknown): Promise<LiveStream> {
    const session = key ? await this.authkeys.resolveSession(key) : null;
    if (!key || !session) throw new ApiError('AUTH_REQUIRED', 'A valid authkey is required (missing, unknown or expired)');
    const token = session.user.token;
    if (token?.scope.readOnly) throw new ApiError('PERMISSION_DENIED', `API token ${token.name} is read-only: a WebSocket stream takes input`);
    return this.liveStreams.open(session, async () => {
      // Resolved again each time: memberships may have changed; unchanged keys come from the cache.
      const user = await this.authkeys.resolve(key);
      if (!user) throw new ApiError('AUTH_REQUIRED', 'The authkey is no longer valid');
      return (await this.authorizer.authorize(user, requirement, id)).cid;
    });
  }
}

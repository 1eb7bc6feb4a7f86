import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import type { FastifyRequest } from 'fastify';
import { Strategy } from 'passport-custom';
import { AuthkeysService } from './authkeys.service';
import { AuthenticatedUser } from './authenticated-user';
import { AuthenticatedRequest } from './authenticated.decorator';
import { extractAuthkey } from './authkey-extractor';

/** Passport strategy `authkey`: the key from header, body or query, checked against the store. */
@Injectable()
export class AuthkeyStrategy extends PassportStrategy(Strategy, 'authkey') {
  constructor(private readonly authkeys: AuthkeysService) {
    super();
  }

  async validate(request: FastifyRequest): Promise<AuthenticatedUser | false> {
    const key = extractAuthkey(request);
    const session = key ? await this.authkeys.resolveSession(key) : null;
    if (!session) return false;
    // A handler that keeps a stream open watches the key by its hash (see AuthkeyCredential).
    (request as Partial<AuthenticatedRequest>).credential = { keyHash: session.keyHash, expiresAt: session.expiresAt };
    return session.user;
  }
}

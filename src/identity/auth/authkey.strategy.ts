import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import type { FastifyRequest } from 'fastify';
import { Strategy } from 'passport-custom';
import { AuthkeysService } from './authkeys.service';
import { AuthenticatedUser } from './authenticated-user';
import { extractAuthkey } from './authkey-extractor';

/** Passport strategy `authkey`: the key from header, body or query, checked against the store. */
@Injectable()
export class AuthkeyStrategy extends PassportStrategy(Strategy, 'authkey') {
  constructor(private readonly authkeys: AuthkeysService) {
    super();
  }

  async validate(request: FastifyRequest): Promise<AuthenticatedUser | false> {
    const key = extractAuthkey(request);
    if (!key) return false;
    return (await this.authkeys.resolve(key)) ?? false;
  }
}

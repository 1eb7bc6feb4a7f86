import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { PassportModule } from '@nestjs/passport';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ApiTokenEntity } from '../entities/api-token.entity';
import { AuthkeyEntity } from '../entities/authkey.entity';
import { UserEntity } from '../entities/user.entity';
import { ApiTokensRepository } from './api-tokens.repository';
import { AuthController } from './auth.controller';
import { AuthkeyCache } from './authkey-cache';
import { AuthkeyGuard } from './authkey.guard';
import { AuthkeyStrategy } from './authkey.strategy';
import { AuthkeysService } from './authkeys.service';
import { LoginRateLimitGuard } from './login-rate-limit.guard';
import { PasswordHasher } from './password-hasher';

/**
 * Authkeys (`/u/auth`), the resolution of API tokens, and the global guard that makes every
 * route need one of them. Every other
 * module builds on this one; managing users and groups (IdentityModule) sits on top of them
 * all, since deleting a group deletes what it owns in those modules.
 */
@Module({
  imports: [PassportModule, TypeOrmModule.forFeature([AuthkeyEntity, ApiTokenEntity, UserEntity])],
  controllers: [AuthController],
  providers: [AuthkeyCache, AuthkeysService, ApiTokensRepository, AuthkeyStrategy, PasswordHasher, LoginRateLimitGuard, { provide: APP_GUARD, useClass: AuthkeyGuard }],
  exports: [AuthkeysService, AuthkeyCache, PasswordHasher, ApiTokensRepository],
})
export class AuthModule {}

import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { LessThanOrEqual, Repository } from 'typeorm';
import { Clock } from '../../common/clock';
import { ApiError } from '../../common/errors/api-error';
import { AppConfig } from '../../config/app-config';
import { UnitOfWork } from '../../database/unit-of-work';
import { AuthenticatedUser, callerOf } from './authenticated-user';
import { AccessChanges } from '../../common/access-changes';
import { ApiTokensRepository } from './api-tokens.repository';
import { AuthkeyCache, AuthkeyCacheEntry } from './authkey-cache';
import { digest, randomSecret } from './secrets';
import { PasswordHasher } from './password-hasher';
import { AuthkeyEntity } from '../entities/authkey.entity';
import { UserEntity } from '../entities/user.entity';

export interface IssuedAuthkey {
  authkey: string;
  /** Unix seconds. */
  expires: number;
}

/**
 * A valid authkey or API token: who holds it (an API token's user carries the token), and
 * what a long-lived stream needs to keep watching it.
 */
export interface AuthkeySession {
  user: AuthenticatedUser;
  keyHash: string;
  /** Unix seconds; null for an API token without expiry. */
  expiresAt: number | null;
}

/**
 * Login, renewal, logout of authkeys, and resolution of every credential a request may
 * present where an authkey goes: authkeys and API tokens (ApiTokensRepository), by the hash
 * of the secret, through one cache.
 */
@Injectable()
export class AuthkeysService {
  constructor(
    @InjectRepository(AuthkeyEntity) private readonly authkeys: Repository<AuthkeyEntity>,
    @InjectRepository(UserEntity) private readonly users: Repository<UserEntity>,
    private readonly unitOfWork: UnitOfWork,
    private readonly clock: Clock,
    private readonly config: AppConfig,
    private readonly cache: AuthkeyCache,
    private readonly accessChanges: AccessChanges,
    private readonly passwords: PasswordHasher,
    private readonly apiTokens: ApiTokensRepository,
  ) {}

  async login(username: string, password: string): Promise<IssuedAuthkey> {
    this.passwords.assertCapacity();
    const user = await this.users.findOne({ where: { username }, select: { uid: true, passwordHash: true } });
    // Hash even for an unknown user so the response time does not reveal which names exist.
    const valid = user ? await this.passwords.verify(password, user.passwordHash) : await this.passwords.verifyUnknownUser(password);
    if (!user || !valid) throw new ApiError('INVALID_CREDENTIALS', 'Wrong username or password');
    return this.unitOfWork.run(async (manager) => {
      await manager.delete(AuthkeyEntity, { expiresAt: LessThanOrEqual(this.clock.nowSeconds()) });
      return this.issue(manager.getRepository(AuthkeyEntity), user.uid);
    });
  }

  /** Swaps a valid key for a new one; the old one stops working at once. */
  async renew(key: string | undefined): Promise<IssuedAuthkey> {
    let dropped: string | undefined;
    try {
      return await this.unitOfWork.run(async (manager) => {
        const repository = manager.getRepository(AuthkeyEntity);
        const current = key ? await repository.findOneBy({ keyHash: digest(key) }) : null;
        if (!current || current.expiresAt <= this.clock.nowSeconds()) {
          throw new ApiError('AUTHKEY_INVALID', 'The authkey is unknown or expired; log in again');
        }
        await repository.delete({ keyHash: current.keyHash });
        dropped = current.keyHash;
        return this.issue(repository, current.uid);
      });
    } finally {
      if (dropped) this.accessChanges.publish({ kind: 'authkey-dropped', keyHash: dropped });
    }
  }

  async revoke(key: string | undefined): Promise<void> {
    if (!key) return;
    const keyHash = digest(key);
    try {
      await this.unitOfWork.run((manager) => manager.delete(AuthkeyEntity, { keyHash }));
    } finally {
      this.accessChanges.publish({ kind: 'authkey-dropped', keyHash });
    }
  }

  /** The user behind a valid key or API token, with their groups; null for an unknown or expired one. */
  async resolve(key: string): Promise<AuthenticatedUser | null> {
    return (await this.resolveSession(key))?.user ?? null;
  }

  /** The user behind a valid key, with the key's hash and expiry; null for an unknown or expired key. */
  resolveSession(key: string): Promise<AuthkeySession | null> {
    return this.resolveHashed(digest(key));
  }

  /** The same for a key known only by its hash (a long-lived stream re-checking its key). */
  async resolveHashed(keyHash: string): Promise<AuthkeySession | null> {
    const now = this.clock.nowSeconds();
    // Authkeys and tokens share no hash (256 random bits each), so the first table that knows it answers.
    const entry = await this.cache.resolve(keyHash, now, async () => (await this.readAuthkey(keyHash, now)) ?? this.apiTokens.readSession(keyHash, now));
    return entry && { keyHash, ...entry };
  }

  private async readAuthkey(keyHash: string, now: number): Promise<AuthkeyCacheEntry | null> {
    const row = await this.authkeys
      .createQueryBuilder('k')
      .innerJoinAndSelect('k.user', 'u')
      .leftJoinAndSelect('u.groups', 'g')
      .where('k.key_hash = :hash AND k.expires_at > :now', { hash: keyHash, now })
      .getOne();
    return row?.user ? { user: callerOf(row.user), expiresAt: row.expiresAt } : null;
  }

  private async issue(repository: Repository<AuthkeyEntity>, uid: string): Promise<IssuedAuthkey> {
    const authkey = randomSecret();
    const expires = this.clock.nowSeconds() + this.config.authkeyTtlSeconds;
    await repository.insert({ keyHash: digest(authkey), uid, expiresAt: expires });
    return { authkey, expires };
  }
}

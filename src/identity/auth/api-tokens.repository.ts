import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, MoreThan, Repository } from 'typeorm';
import { ApiError } from '../../common/errors/api-error';
import { UnitOfWork } from '../../database/unit-of-work';
import { ApiTokenEntity } from '../entities/api-token.entity';
import { callerOf } from './authenticated-user';
import { AuthkeyCacheEntry } from './authkey-cache';

/**
 * The one owner of the `api_tokens` table: every query and write on it. Resolution (which
 * AuthkeysService caches beside authkeys) and the management that ApiTokensService does for
 * `/u/token` both come here.
 */
@Injectable()
export class ApiTokensRepository {
  constructor(
    @InjectRepository(ApiTokenEntity) private readonly tokens: Repository<ApiTokenEntity>,
    private readonly unitOfWork: UnitOfWork,
  ) {}

  /** Stores a new token; TOKEN_NAME_TAKEN when its user has one of that name. */
  insert(token: Omit<ApiTokenEntity, 'createdAt' | 'user'>): Promise<ApiTokenEntity> {
    return this.unitOfWork.run(async (manager) => {
      if (await manager.existsBy(ApiTokenEntity, { uid: token.uid, name: token.name })) {
        throw new ApiError('TOKEN_NAME_TAKEN', `You already have an API token named ${token.name}`);
      }
      await manager.insert(ApiTokenEntity, token);
      return manager.findOneByOrFail(ApiTokenEntity, { id: token.id });
    });
  }

  /** A user's tokens, by name (expired ones included, until revoked). */
  listOf(uid: string): Promise<ApiTokenEntity[]> {
    return this.tokens.find({ where: { uid }, order: { name: 'ASC' } });
  }

  find(id: string): Promise<ApiTokenEntity | null> {
    return this.tokens.findOneBy({ id });
  }

  async delete(id: string): Promise<void> {
    await this.unitOfWork.run((manager) => manager.delete(ApiTokenEntity, { id }));
  }

  /** The caller a valid (known, unexpired) token's secret hash stands for, with the token's scope; null otherwise. */
  async readSession(secretHash: string, now: number): Promise<AuthkeyCacheEntry | null> {
    const row = await this.tokens.findOne({
      where: [
        { secretHash, expiresAt: IsNull() },
        { secretHash, expiresAt: MoreThan(now) },
      ],
      relations: { user: { groups: true } },
    });
    if (!row?.user) return null;
    const catalogs = row.catalogs && new Map(row.catalogs.map((c) => [c.cid, c.permissions]));
    const token = { id: row.id, name: row.name, scope: { catalogs, readOnly: row.readOnly } };
    return { user: callerOf(row.user, token), expiresAt: row.expiresAt };
  }
}

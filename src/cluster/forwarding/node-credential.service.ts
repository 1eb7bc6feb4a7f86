import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Repository } from 'typeorm';
import { ClusterCredentialEntity } from './cluster-credential.entity';

const NAME = 'node-to-node';

/**
 * The credential with which nodes forward requests to each other: generated once per cluster
 * by the first node that starts (a unique row; the others read the winner's), kept in the
 * shared database, never sent to clients.
 */
@Injectable()
export class NodeCredential implements OnModuleInit {
  private value: string | undefined;
  private digest: Buffer | undefined;

  constructor(@InjectRepository(ClusterCredentialEntity) private readonly credentials: Repository<ClusterCredentialEntity>) {}

  async onModuleInit(): Promise<void> {
    await this.credentials.createQueryBuilder().insert().values({ name: NAME, secret: randomBytes(32).toString('base64url') }).orIgnore().execute();
    const row = await this.credentials.findOneByOrFail({ name: NAME });
    this.value = row.secret;
    this.digest = sha256(row.secret);
  }

  get secret(): string {
    if (this.value === undefined) throw new Error('the node-to-node credential is read at start');
    return this.value;
  }

  /** True when `presented` is the cluster's credential (compared in constant time). */
  accepts(presented: string | string[] | undefined): boolean {
    if (typeof presented !== 'string' || this.digest === undefined) return false;
    return timingSafeEqual(sha256(presented), this.digest);
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * A secret the nodes of a cluster share through their database. `node-to-node` marks the
 * requests one node forwards to another; the first node to start creates it.
 */
@Entity('cluster_credentials')
export class ClusterCredentialEntity {
  @PrimaryColumn('varchar', { length: 32 })
  name: string;

  @Column('varchar', { length: 128 })
  secret: string;
}

import { Column, Entity, PrimaryColumn, ValueTransformer } from 'typeorm';
import type { HostCapabilities } from '../hypervisor/hypervisor-driver';

/** bigint columns come back from PostgreSQL as strings; unix milliseconds fit a JS number. */
const millis: ValueTransformer = {
  to: (value: number) => value,
  from: (value: string | number) => Number(value),
};

/**
 * A server of the cluster (on SQLite: the one server). Each node writes its own row: at
 * start (registration) and every VELOCITY_NODE_HEARTBEAT seconds (`heartbeat_at`). Times are
 * unix milliseconds in a bigint, the same on SQLite and PostgreSQL, with no time zone to get
 * wrong between hosts.
 */
@Entity('nodes')
export class NodeEntity {
  /** VELOCITY_NODE_NAME. */
  @PrimaryColumn('varchar', { length: 63 })
  name: string;

  /** VELOCITY_NODE_URL: how the other nodes reach this one. */
  @Column('varchar', { length: 2048 })
  url: string;

  @Column('varchar', { length: 8 })
  driver: string;

  /** What the driver reported for the host at the node's start: VM types, limits, features. */
  @Column('simple-json')
  capabilities: HostCapabilities;

  /** The host's virtual CPUs and memory (MiB) that VMs may be given, as the driver reports them. */
  @Column('integer')
  cpus: number;

  @Column('integer', { name: 'memory_mb' })
  memoryMb: number;

  @Column('bigint', { name: 'started_at', transformer: millis })
  startedAt: number;

  @Column('bigint', { name: 'heartbeat_at', transformer: millis })
  heartbeatAt: number;
}

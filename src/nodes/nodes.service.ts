import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Clock } from '../common/clock';
import { ApiError } from '../common/errors/api-error';
import type { RemoteNode } from '../cluster/forwarding/node-forwarder';
import { AppConfig } from '../config/app-config';
import { isPostgres } from '../database/dialect';
import { HypervisorService } from '../hypervisor/hypervisor.service';
import { NodeAllocation, VmsRepository } from '../vms/vms.repository';
import { NodeEntity } from './node.entity';
import { assessNodes, ImageLocations, PlacementCandidate, PlacementDemand, pickNode } from './node-placement';
import { NodesRepository } from './nodes.repository';

/** A heartbeat older than this many intervals: the node is offline. */
const MISSED_HEARTBEATS = 3;

/** A node as GET /nodes shows it. */
export interface NodeView {
  node: NodeEntity;
  online: boolean;
  allocated: NodeAllocation;
}

/** The node chosen for a VM, and whether it is this one. */
export interface PlacedNode {
  name: string;
  local: boolean;
}

/** Where a VM runs, as its views show it. */
export interface VmPlacement {
  node: string;
  online: boolean;
}

/**
 * This server as a node of the cluster (on SQLite, the one node): registers itself at start,
 * heart-beats every VELOCITY_NODE_HEARTBEAT seconds, says which nodes are online and where
 * a new VM goes. `isLocal` is the one place that says whether a VM runs in this process;
 * what must touch a remote VM's hypervisor asks it.
 */
@Injectable()
export class NodesService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('Nodes');
  /** The nodes as last read (every heartbeat and listing), for placement and the VM views' `node_online`. */
  private known = new Map<string, NodeEntity>();
  private timer?: NodeJS.Timeout;
  private beating?: Promise<void>;
  private startedAt = 0;

  constructor(
    private readonly repository: NodesRepository,
    private readonly vms: VmsRepository,
    private readonly hypervisor: HypervisorService,
    private readonly config: AppConfig,
    private readonly clock: Clock,
    private readonly dataSource: DataSource,
  ) {}

  get localName(): string {
    return this.config.nodeName;
  }

  async onModuleInit(): Promise<void> {
    this.startedAt = this.clock.nowMillis();
    await this.register(this.startedAt);
    const claimed = await this.repository.claim(this.localName, { sole: !isPostgres(this.dataSource), images: !this.config.sharedStorageDir });
    this.logger.log(`node ${this.localName} (${this.config.nodeUrl}) registered; heartbeat every ${this.config.nodeHeartbeatSeconds} s`);
    if (claimed.vms || claimed.images) this.logger.log(`node ${this.localName} took over ${claimed.vms} VM(s) and ${claimed.images} image(s) that had no node or another name`);
    await this.refresh();
    this.timer = setInterval(() => {
      this.beating ??= this.beat().finally(() => (this.beating = undefined));
    }, this.config.nodeHeartbeatSeconds * 1000);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.beating;
  }

  /** Whether the VM (or image) on `node` is this process's to drive; null: not yet claimed, so the local one's. */
  isLocal(node: string | null): boolean {
    return node === null || node === this.localName;
  }

  /**
   * Refuses (409 VM_ON_OTHER_NODE) to drive or change a VM another node runs: in a cluster
   * only the VM's own node does, and a request that reached this one as the VM moved away is
   * sent again. A server on a SQLite file is the only node there can be: VMs recorded under
   * another name are its own (a renamed host).
   */
  assertRunsHere(vmid: string, node: string | null): void {
    if (!isPostgres(this.dataSource) || this.isLocal(node)) return;
    throw new ApiError('VM_ON_OTHER_NODE', `VM ${vmid} runs on node ${node}, not on this one; send the request again`, { vmid, node });
  }

  /** assertRunsHere with the VM's node as the database has it now (a cluster's only: see there). */
  async assertRunsHereNow(vmid: string): Promise<void> {
    if (isPostgres(this.dataSource)) this.assertRunsHere(vmid, await this.vms.nodeOf(vmid));
  }

  /** This node is online to itself; another while its last heartbeat is recent. */
  isOnline(node: string | null): boolean {
    if (this.isLocal(node)) return true;
    const row = this.known.get(node!);
    return row !== undefined && this.clock.nowMillis() - row.heartbeatAt < MISSED_HEARTBEATS * this.config.nodeHeartbeatSeconds * 1000;
  }

  /** Another node, as forwarding needs it (its address and liveness); null for this one or one never registered. */
  remote(node: string | null): RemoteNode | null {
    if (this.isLocal(node)) return null;
    const row = this.known.get(node!);
    return row ? { name: row.name, url: row.url, online: this.isOnline(row.name) } : null;
  }

  /** The node an image's file is on; null for one on the cluster's shared storage, which every node reaches. */
  holderOf(imageNode: string | null): string | null {
    return imageNode === null && this.config.sharedStorageDir ? null : this.placementOf(imageNode).node;
  }

  placementOf(node: string | null): VmPlacement {
    return { node: node ?? this.localName, online: this.isOnline(node) };
  }

  /** Every registered node with its liveness and what its VMs are given, read fresh. */
  async list(): Promise<NodeView[]> {
    const [nodes, allocation] = await Promise.all([this.refresh(), this.vms.allocationByNode()]);
    return this.views(nodes, allocation);
  }

  /**
   * The node a VM is to run on: the nodes that take its definition (assessNodes), then, once
   * `images` has looked up what it attaches, the best of them holding those (pickNode).
   */
  async place(demand: PlacementDemand, images: () => Promise<ImageLocations>): Promise<PlacedNode> {
    // The registry as of the last heartbeat, so that a creation reads no node row; a node
    // named that this one has not seen yet (it registered since) is looked up.
    const nodes = demand.node === undefined || this.known.has(demand.node) ? [...this.known.values()] : await this.refresh();
    // Free capacity only ranks several online nodes: a single host does not sum its VMs at every creation.
    const ranked = demand.node === undefined && nodes.filter((n) => this.isOnline(n.name)).length > 1;
    const candidates: PlacementCandidate[] = this.views(nodes, ranked ? await this.vms.allocationByNode() : new Map()).map(({ node, online, allocated }) => ({
      name: node.name,
      online,
      // This node's own capabilities are the driver's, live; the others' as they registered them.
      capabilities: this.isLocal(node.name) ? this.hypervisor.capabilities : node.capabilities,
      free: { cpus: node.cpus - allocated.cpus, memoryMb: node.memoryMb - allocated.memoryMb },
    }));
    const assessed = assessNodes(candidates, demand);
    const chosen = pickNode(assessed, await images(), demand.node);
    return { name: chosen.name, local: this.isLocal(chosen.name) };
  }

  private views(nodes: NodeEntity[], allocation: Map<string | null, NodeAllocation>): NodeView[] {
    const none: NodeAllocation = { vms: 0, cpus: 0, memoryMb: 0 };
    return nodes.map((node) => ({
      node,
      online: this.isOnline(node.name),
      // VMs not yet claimed (null) are this node's.
      allocated: allocation.get(node.name) ?? (this.isLocal(node.name) ? allocation.get(null) : undefined) ?? none,
    }));
  }

  /** Writes this node's row: its address, driver, capabilities and capacity as of now. */
  private register(now: number): Promise<void> {
    const caps = this.hypervisor.capabilities;
    return this.repository.register(
      Object.assign(new NodeEntity(), {
        name: this.localName,
        url: this.config.nodeUrl,
        driver: caps.driver,
        capabilities: caps,
        cpus: caps.max_cpu_count,
        memoryMb: caps.max_memory_mb,
        startedAt: this.startedAt,
        heartbeatAt: now,
      }),
    );
  }

  private async refresh(): Promise<NodeEntity[]> {
    const nodes = await this.repository.all();
    this.known = new Map(nodes.map((n) => [n.name, n]));
    return nodes;
  }

  private async beat(): Promise<void> {
    try {
      const now = this.clock.nowMillis();
      // A row removed meanwhile (by hand, or a SQLite file another node renamed): register again.
      if (!(await this.repository.heartbeat(this.localName, now))) await this.register(now);
      await this.refresh();
    } catch (error) {
      this.logger.error(`heartbeat of node ${this.localName} failed: ${(error as Error).message}`);
    }
  }
}

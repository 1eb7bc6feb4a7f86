import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn, Unique, UpdateDateColumn } from 'typeorm';
import { CatalogEntity } from '../../catalogs/entities/catalog.entity';
import type { SimOptions, VmDisplayConfig, VmState, VmType } from '../../hypervisor/hypervisor-driver';

/** A virtual machine's definition and its last known state. */
@Entity('vms')
@Unique('UQ_vms_catalog_name', ['cid', 'name'])
export class VmEntity {
  @PrimaryColumn('varchar', { length: 36 })
  vmid: string;

  @Index()
  @Column('varchar', { length: 36 })
  cid: string;

  @ManyToOne(() => CatalogEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'cid', referencedColumnName: 'cid' })
  catalog?: CatalogEntity;

  @Column('varchar', { length: 64 })
  name: string;

  @Column('varchar', { length: 8 })
  type: VmType;

  @Column('integer', { name: 'cpu_count' })
  cpuCount: number;

  @Column('integer', { name: 'memory_size_mb' })
  memorySizeMb: number;

  @Column('simple-json')
  displays: VmDisplayConfig[];

  @Column('boolean')
  rosetta: boolean;

  @Column('boolean')
  autostart: boolean;

  /** KBOOT: the kernel command line (kernel and initrd are storage attachments). */
  @Column('varchar', { length: 4096, nullable: true })
  cmdline: string | null;

  /** Simulator controls, kept only for VMs defined on the sim driver. */
  @Column('simple-json', { name: 'sim_options', nullable: true })
  simOptions: SimOptions | null;

  /**
   * The node that runs the VM (nodes.name). Null only for a VM written before nodes existed,
   * until a node claims it at start (NodesService).
   */
  @Index()
  @Column('varchar', { length: 63, nullable: true })
  node: string | null;

  /** The state last reported by the hypervisor; reconciled with the driver at start. */
  @Column('varchar', { length: 16, default: 'STOPPED' })
  state: VmState;

  /** The last hypervisor error outside a request (the VM stopped with an error). */
  @Column('varchar', { name: 'last_error', length: 2048, nullable: true })
  lastError: string | null;

  @CreateDateColumn({ name: 'created_at' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at' })
  updatedAt: Date;
}

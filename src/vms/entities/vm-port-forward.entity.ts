import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import type { PortForwardProtocol } from '../../hypervisor/hypervisor-driver';
import { VmEntity } from './vm.entity';

/** A host port forwarded to a guest port through the VM's NAT NIC. */
@Entity('vm_port_forwards')
@Index('IDX_vm_port_forwards_host_port_once', ['protocol', 'hostPort'], { unique: true })
export class VmPortForwardEntity {
  @PrimaryColumn('varchar', { length: 36 })
  vmid: string;

  @PrimaryColumn('integer')
  position: number;

  @ManyToOne(() => VmEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'vmid', referencedColumnName: 'vmid' })
  vm?: VmEntity;

  @Column('varchar', { length: 3 })
  protocol: PortForwardProtocol;

  /**
   * One host address serves every VM, so a host port and protocol belong to at most one VM
   * (the unique index), whether it runs or not: starting it later must not fail on a port
   * another VM was promised.
   */
  @Column('integer', { name: 'host_port' })
  hostPort: number;

  @Column('integer', { name: 'guest_port' })
  guestPort: number;
}

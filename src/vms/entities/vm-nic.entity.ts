import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { NicEntity } from '../../resources/entities/nic.entity';
import { VmEntity } from './vm.entity';

/** A VM's network interface on a NIC resource, with its own MAC address. */
@Entity('vm_nics')
export class VmNicEntity {
  @PrimaryColumn('varchar', { length: 36 })
  vmid: string;

  @PrimaryColumn('integer')
  position: number;

  @ManyToOne(() => VmEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'vmid', referencedColumnName: 'vmid' })
  vm?: VmEntity;

  @Index()
  @Column('varchar', { length: 36 })
  nicid: string;

  @ManyToOne(() => NicEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'nicid', referencedColumnName: 'nicid' })
  nic?: NicEntity;

  /** Locally administered, stable for the VM's life. */
  @Column('varchar', { length: 17 })
  mac: string;
}

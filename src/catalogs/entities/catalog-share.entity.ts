import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { GroupEntity } from '../../identity/entities/group.entity';
import { CatalogEntity } from './catalog.entity';

/** A catalog shared with a group, with the seven permission flags. */
@Entity('catalog_shares')
@Index(['gid', 'cid'])
export class CatalogShareEntity {
  @PrimaryColumn('varchar', { length: 36 })
  cid: string;

  @PrimaryColumn('varchar', { length: 36 })
  gid: string;

  @ManyToOne(() => CatalogEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'cid', referencedColumnName: 'cid' })
  catalog?: CatalogEntity;

  @ManyToOne(() => GroupEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'gid', referencedColumnName: 'gid' })
  group?: GroupEntity;

  @Column('boolean') manage: boolean;
  @Column('boolean') view: boolean;
  @Column('boolean') create: boolean;
  @Column('boolean') alter: boolean;
  @Column('boolean') remove: boolean;
  @Column('boolean') state: boolean;
  @Column('boolean') interact: boolean;
}

import { MigrationInterface, QueryRunner } from 'typeorm';
import { runStatements } from '../dialect';

/** Host ports forwarded to VMs; a host port and protocol belong to one VM at most. */
export class PortForwards1795700000005 implements MigrationInterface {
  name = 'PortForwards1795700000005';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await runStatements(queryRunner, {
      sqlite: [
        `CREATE TABLE "vm_port_forwards" ("vmid" varchar(36) NOT NULL, "position" integer NOT NULL, "protocol" varchar(3) NOT NULL, "host_port" integer NOT NULL, "guest_port" integer NOT NULL, CONSTRAINT "FK_bd9791518b12306f569cdc4b1bb" FOREIGN KEY ("vmid") REFERENCES "vms" ("vmid") ON DELETE CASCADE ON UPDATE NO ACTION, PRIMARY KEY ("vmid", "position"))`,
        `CREATE UNIQUE INDEX "IDX_vm_port_forwards_host_port_once" ON "vm_port_forwards" ("protocol", "host_port") `,
      ],
      postgres: [
        `CREATE TABLE "vm_port_forwards" ("vmid" character varying(36) NOT NULL, "position" integer NOT NULL, "protocol" character varying(3) NOT NULL, "host_port" integer NOT NULL, "guest_port" integer NOT NULL, CONSTRAINT "PK_649336914a45d471a8b4b617758" PRIMARY KEY ("vmid", "position"))`,
        `CREATE UNIQUE INDEX "IDX_vm_port_forwards_host_port_once" ON "vm_port_forwards" ("protocol", "host_port")`,
        `ALTER TABLE "vm_port_forwards" ADD CONSTRAINT "FK_bd9791518b12306f569cdc4b1bb" FOREIGN KEY ("vmid") REFERENCES "vms"("vmid") ON DELETE CASCADE ON UPDATE NO ACTION`,
      ],
    });
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "IDX_vm_port_forwards_host_port_once"`);
    await queryRunner.query(`DROP TABLE "vm_port_forwards"`);
  }
}

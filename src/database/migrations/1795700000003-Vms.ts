import { MigrationInterface, QueryRunner } from 'typeorm';
import { runStatements } from '../dialect';

/** Virtual machines and what they attach: storage (disks, kernel, initrd) and NICs. */
export class Vms1795700000003 implements MigrationInterface {
  name = 'Vms1795700000003';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await runStatements(queryRunner, {
      sqlite: [
        `CREATE TABLE "vms" ("vmid" varchar(36) PRIMARY KEY NOT NULL, "cid" varchar(36) NOT NULL, "name" varchar(64) NOT NULL, "type" varchar(8) NOT NULL, "cpu_count" integer NOT NULL, "memory_size_mb" integer NOT NULL, "displays" text NOT NULL, "rosetta" boolean NOT NULL, "autostart" boolean NOT NULL, "cmdline" varchar(4096), "sim_options" text, "state" varchar(16) NOT NULL DEFAULT ('STOPPED'), "last_error" varchar(2048), "created_at" datetime NOT NULL DEFAULT (datetime('now')), "updated_at" datetime NOT NULL DEFAULT (datetime('now')), CONSTRAINT "UQ_vms_catalog_name" UNIQUE ("cid", "name"), CONSTRAINT "FK_a7bcbb8c8e55fd7db10d604e071" FOREIGN KEY ("cid") REFERENCES "catalogs" ("cid") ON DELETE CASCADE ON UPDATE NO ACTION)`,
        `CREATE INDEX "IDX_a7bcbb8c8e55fd7db10d604e07" ON "vms" ("cid") `,
        `CREATE TABLE "vm_storage" ("vmid" varchar(36) NOT NULL, "stid" varchar(36) NOT NULL, "role" varchar(16) NOT NULL, "position" integer NOT NULL, "writable" boolean NOT NULL, CONSTRAINT "FK_d29d31b3d9cce67bd50765a405a" FOREIGN KEY ("vmid") REFERENCES "vms" ("vmid") ON DELETE CASCADE ON UPDATE NO ACTION, CONSTRAINT "FK_5a39b590c09cff1ce8345c60ef5" FOREIGN KEY ("stid") REFERENCES "storage" ("stid") ON DELETE RESTRICT ON UPDATE NO ACTION, PRIMARY KEY ("vmid", "stid"))`,
        `CREATE UNIQUE INDEX "IDX_vm_storage_writable_once" ON "vm_storage" ("stid") WHERE writable = 1`,
        `CREATE TABLE "vm_nics" ("vmid" varchar(36) NOT NULL, "position" integer NOT NULL, "nicid" varchar(36) NOT NULL, "mac" varchar(17) NOT NULL, CONSTRAINT "FK_e3a9f2e79e6b5f84b3b98378b91" FOREIGN KEY ("vmid") REFERENCES "vms" ("vmid") ON DELETE CASCADE ON UPDATE NO ACTION, CONSTRAINT "FK_bde064f5ef2d1675b3f3b8aa27d" FOREIGN KEY ("nicid") REFERENCES "nics" ("nicid") ON DELETE RESTRICT ON UPDATE NO ACTION, PRIMARY KEY ("vmid", "position"))`,
        `CREATE INDEX "IDX_bde064f5ef2d1675b3f3b8aa27" ON "vm_nics" ("nicid") `,
      ],
      postgres: [
        `CREATE TABLE "vms" ("vmid" character varying(36) NOT NULL, "cid" character varying(36) NOT NULL, "name" character varying(64) NOT NULL, "type" character varying(8) NOT NULL, "cpu_count" integer NOT NULL, "memory_size_mb" integer NOT NULL, "displays" text NOT NULL, "rosetta" boolean NOT NULL, "autostart" boolean NOT NULL, "cmdline" character varying(4096), "sim_options" text, "state" character varying(16) NOT NULL DEFAULT 'STOPPED', "last_error" character varying(2048), "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "UQ_vms_catalog_name" UNIQUE ("cid", "name"), CONSTRAINT "PK_e9f863d90a773699a39174bf30d" PRIMARY KEY ("vmid"))`,
        `CREATE INDEX "IDX_a7bcbb8c8e55fd7db10d604e07" ON "vms" ("cid")`,
        `ALTER TABLE "vms" ADD CONSTRAINT "FK_a7bcbb8c8e55fd7db10d604e071" FOREIGN KEY ("cid") REFERENCES "catalogs"("cid") ON DELETE CASCADE ON UPDATE NO ACTION`,
        `CREATE TABLE "vm_storage" ("vmid" character varying(36) NOT NULL, "stid" character varying(36) NOT NULL, "role" character varying(16) NOT NULL, "position" integer NOT NULL, "writable" boolean NOT NULL, CONSTRAINT "PK_2152f5b96bbe7db2953354d272e" PRIMARY KEY ("vmid", "stid"))`,
        `CREATE UNIQUE INDEX "IDX_vm_storage_writable_once" ON "vm_storage" ("stid") WHERE writable = true`,
        `ALTER TABLE "vm_storage" ADD CONSTRAINT "FK_d29d31b3d9cce67bd50765a405a" FOREIGN KEY ("vmid") REFERENCES "vms"("vmid") ON DELETE CASCADE ON UPDATE NO ACTION`,
        `ALTER TABLE "vm_storage" ADD CONSTRAINT "FK_5a39b590c09cff1ce8345c60ef5" FOREIGN KEY ("stid") REFERENCES "storage"("stid") ON DELETE RESTRICT ON UPDATE NO ACTION`,
        `CREATE TABLE "vm_nics" ("vmid" character varying(36) NOT NULL, "position" integer NOT NULL, "nicid" character varying(36) NOT NULL, "mac" character varying(17) NOT NULL, CONSTRAINT "PK_9a717953025b79da48c4c49d456" PRIMARY KEY ("vmid", "position"))`,
        `CREATE INDEX "IDX_bde064f5ef2d1675b3f3b8aa27" ON "vm_nics" ("nicid")`,
        `ALTER TABLE "vm_nics" ADD CONSTRAINT "FK_e3a9f2e79e6b5f84b3b98378b91" FOREIGN KEY ("vmid") REFERENCES "vms"("vmid") ON DELETE CASCADE ON UPDATE NO ACTION`,
        `ALTER TABLE "vm_nics" ADD CONSTRAINT "FK_bde064f5ef2d1675b3f3b8aa27d" FOREIGN KEY ("nicid") REFERENCES "nics"("nicid") ON DELETE RESTRICT ON UPDATE NO ACTION`,
      ],
    });
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "vm_nics"`);
    await queryRunner.query(`DROP TABLE "vm_storage"`);
    await queryRunner.query(`DROP TABLE "vms"`);
  }
}

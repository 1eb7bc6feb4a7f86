import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsIn, IsIP, IsNumber, IsObject, IsOptional, Max, Min, ValidateNested } from 'class-validator';
import { BooleanField, IntegerField, NameField, TextField, UuidArrayField, UuidField } from '../../common/validation/fields';
import { NODE_NAME_PATTERN } from '../../config/app-config';

const CID_EXAMPLE = '3f2a8c1e-7b4d-4e9a-a1c2-5d6e7f8a9b0c';
const STID_EXAMPLE = '7c9e6679-7425-40de-944b-e07fc1f90ae7';

export class DisplayDto {
  @TextField({ description: 'A way of identifying this display', example: 'main', maxLength: 128, optional: true })
  description = '';

  @IntegerField({ description: 'Width in px', example: 1280, min: 64, max: 16384 })
  width: number;

  @IntegerField({ description: 'Height in px', example: 800, min: 64, max: 16384 })
  height: number;
}

export class SimFailuresDto {
  @TextField({ description: 'Make start fail with this message', example: 'injected start failure', maxLength: 256, optional: true }) start?: string;
  @TextField({ description: 'Make pause fail with this message', example: 'injected pause failure', maxLength: 256, optional: true }) pause?: string;
  @TextField({ description: 'Make resume fail with this message', example: 'injected resume failure', maxLength: 256, optional: true }) resume?: string;
  @TextField({ description: 'Make a graceful stop fail with this message', example: 'guest ignored ACPI', maxLength: 256, optional: true }) request_stop?: string;
  @TextField({ description: 'Make a forced stop fail with this message', example: 'injected stop failure', maxLength: 256, optional: true }) stop?: string;
}

/** Lowest host port a VM may forward: the ports below are the host's own services' (ssh, http …) and need privileges. */
export const MIN_FORWARDED_HOST_PORT = 1024;
const MAX_PORT_FORWARDS = 32;

/** A host port on the server's forward address (VELOCITY_FORWARD_ADDRESS) that reaches a guest port through the VM's NAT NIC. */
export class PortForwardDto {
  @ApiProperty({ enum: ['tcp', 'udp'], description: 'Transport protocol', example: 'tcp' })
  @IsIn(['tcp', 'udp'])
  protocol: 'tcp' | 'udp';

  @IntegerField({
    description: `Port on the server's forward address; at least ${MIN_FORWARDED_HOST_PORT}, and forwarded by one VM at most`,
    example: 8022,
    min: MIN_FORWARDED_HOST_PORT,
    max: 65535,
  })
  host_port: number;

  @IntegerField({ description: 'Port in the guest', example: 22, min: 1, max: 65535 })
  guest_port: number;
}

/** Controls of the simulator (VELOCITY_HYPERVISOR=sim only): delays and injected failures. */
export class SimOptionsDto {
  @ApiPropertyOptional({ description: 'Multiplies every transition delay', example: 1, minimum: 0, maximum: 100 })
  @IsOptional()
  @IsNumber()
  @Min(0)
  @Max(100)
  time_scale?: number;

  @ApiPropertyOptional({ type: SimFailuresDto, description: 'Operations that fail, with their messages' })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => SimFailuresDto)
  fail?: SimFailuresDto;

  @IntegerField({ description: 'The guest powers itself off this many ms after boot', example: 5000, min: 0, max: 86_400_000, optional: true })
  poweroff_after_ms?: number;

  @IntegerField({ description: 'The VM stops with a hypervisor error this many ms after boot', example: 5000, min: 0, max: 86_400_000, optional: true })
  crash_after_ms?: number;

  @ApiPropertyOptional({ type: [String], description: 'What the guest reports as its addresses while running (GET /v `ip_addresses`)', example: ['192.168.64.7'], maxItems: 16 })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(16)
  @IsIP(undefined, { each: true })
  guest_addresses?: string[];
}

function PortForwardsField(description: string) {
  return applyDecorators(
    ApiPropertyOptional({ type: [PortForwardDto], description, maxItems: MAX_PORT_FORWARDS }),
    IsOptional(),
    IsArray(),
    ArrayMaxSize(MAX_PORT_FORWARDS),
    ValidateNested({ each: true }),
    Type(() => PortForwardDto),
  );
}

/** A node name (GET /nodes): where the VM runs. */
function NodeField(description: string) {
  return TextField({ description, example: 'mac-mini-01', minLength: 1, maxLength: 63, pattern: NODE_NAME_PATTERN, optional: true });
}

/** Fields every VM type has; the seed's PUT /v/efi body. */
export class CreateEfiVmDto {
  @NameField({ description: 'A unique name in the catalog', example: 'build-01' })
  name: string;

  @UuidField({ description: 'The catalog (CID) to create the VM in; needs the `create` permission', example: CID_EXAMPLE })
  catalog: string;

  @NodeField(
    'The node to run the VM on (GET /nodes); it must be online and hold the images the VM attaches. Default: the online node holding them, ' +
      'else the online node with the most free memory after the VMs already placed there.',
  )
  node?: string;

  @IntegerField({ description: 'Virtual CPUs (a number or a numeric string)', example: 2, min: 1, max: 1024 })
  cpu_count: number;

  @IntegerField({ description: 'Memory in MiB (a number or a numeric string)', example: 2048, min: 1, max: 16 * 1024 * 1024 })
  memory_size_mb: number;

  @ApiPropertyOptional({ type: [DisplayDto], description: 'Displays (at most 4); default none', maxItems: 4 })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(4)
  @ValidateNested({ each: true })
  @Type(() => DisplayDto)
  displays: DisplayDto[] = [];

  @UuidArrayField({ description: 'Attached storage devices (STID), in boot order', example: [STID_EXAMPLE], maxItems: 16, optional: true })
  storage_devices: string[] = [];

  @UuidArrayField({ description: 'Attached network devices (NICID)', example: ['9b2d7f3e-1c4a-4e8b-a6d5-0f1e2d3c4b5a'], maxItems: 8, optional: true })
  nics: string[] = [];

  @BooleanField({ description: 'Enable Rosetta x86 translation where the host has it', example: false, optional: true })
  rosetta = false;

  @BooleanField({ description: 'Start this VM when Velocity starts', example: false, optional: true })
  autostart = false;

  @PortForwardsField('Host ports forwarded to the guest through its NAT NIC (the VM needs one); default none')
  port_forwards: PortForwardDto[] = [];

  @ApiPropertyOptional({ type: SimOptionsDto, description: 'Simulator controls; refused by other drivers' })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => SimOptionsDto)
  sim?: SimOptionsDto;
}

export class CreateKbootVmDto extends CreateEfiVmDto {
  @UuidField({ description: 'The kernel image (STID); uncompressed on Apple silicon', example: STID_EXAMPLE })
  kernel: string;

  @UuidField({ description: 'The initial ramdisk (STID)', example: STID_EXAMPLE, optional: true })
  initrd?: string;

  @TextField({ description: 'Kernel command line', example: 'console=hvc0 root=/dev/vda1', maxLength: 4096, optional: true })
  cmdline = '';
}

export class CreateMacVmDto extends CreateEfiVmDto {
  @UuidField({ description: 'A macOS restore image (IPSW, STID) to install from on the first start', example: STID_EXAMPLE, optional: true })
  restore_image?: string;
}

/**
 * PATCH /v: fields left out keep their value; the VM must be stopped. Written out rather
 * than derived with PartialType, which would copy the create DTO's defaults (`nics = []`)
 * and so silently clear what the client did not mention.
 */
export class UpdateVmDto {
  @UuidField({ description: 'Virtual machine id (VMID)', example: '1e7d2c9a-5b3f-4a8e-9c6d-2f1a0b9e8d7c' })
  vmid: string;

  @NameField({ description: 'New name, unique in the catalog', example: 'build-02', optional: true })
  name?: string;

  @IntegerField({ description: 'Virtual CPUs', example: 4, min: 1, max: 1024, optional: true })
  cpu_count?: number;

  @IntegerField({ description: 'Memory in MiB', example: 4096, min: 1, max: 16 * 1024 * 1024, optional: true })
  memory_size_mb?: number;

  @ApiPropertyOptional({ type: [DisplayDto], description: 'Replaces the displays', maxItems: 4 })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(4)
  @ValidateNested({ each: true })
  @Type(() => DisplayDto)
  displays?: DisplayDto[];

  @UuidArrayField({ description: 'Replaces the storage devices (STID)', example: [STID_EXAMPLE], maxItems: 16, optional: true })
  storage_devices?: string[];

  @UuidArrayField({ description: 'Replaces the NICs (NICID)', example: [], maxItems: 8, optional: true })
  nics?: string[];

  @BooleanField({ description: 'Enable Rosetta where available', example: false, optional: true })
  rosetta?: boolean;

  @BooleanField({ description: 'Start with Velocity', example: true, optional: true })
  autostart?: boolean;

  @PortForwardsField('Replaces the port forwards')
  port_forwards?: PortForwardDto[];

  @UuidField({ description: 'KBOOT: the kernel image (STID)', example: STID_EXAMPLE, optional: true })
  kernel?: string;

  @UuidField({ description: 'KBOOT: the initial ramdisk (STID)', example: STID_EXAMPLE, optional: true })
  initrd?: string;

  @TextField({ description: 'KBOOT: kernel command line', example: 'console=hvc0', maxLength: 4096, optional: true })
  cmdline?: string;

  @NodeField('Moves the stopped VM to this node (online, holding every image the VM attaches; not for macOS VMs); its directory (console log, firmware variables) starts afresh there')
  node?: string;
}

export class VmCreatedDto {
  @ApiProperty({ format: 'uuid', example: '1e7d2c9a-5b3f-4a8e-9c6d-2f1a0b9e8d7c' })
  vmid: string;
}

/** POST /v/clone: a stopped VM copied into a catalog under a new name. */
export class CloneVmDto {
  @UuidField({ description: 'The VM to copy (VMID); needs `view` on its catalog; it must be STOPPED', example: '1e7d2c9a-5b3f-4a8e-9c6d-2f1a0b9e8d7c' })
  vmid: string;

  @UuidField({ description: 'The catalog (CID) to create the copy in, the same or another; needs the `create` permission', example: CID_EXAMPLE })
  catalog: string;

  @NameField({ description: 'A unique name in the target catalog; the copied disks are named `<name>-disk1`, `<name>-disk2` …', example: 'build-02' })
  name: string;
}

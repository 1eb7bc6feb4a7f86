import { ApiProperty } from '@nestjs/swagger';
import { IsIn } from 'class-validator';
import { FlagField, IntegerQueryField, TextField, UuidField } from '../../common/validation/fields';
import { PageInfoDto, PageQueryDto } from '../../common/validation/page.dto';
import { VM_STATES } from '../../hypervisor/hypervisor-driver';
import { REQUESTABLE_STATES, RequestableState } from '../vm-state-plan';
import { NullableStringProperty } from '../../common/swagger/nullable-property';

const VMID_EXAMPLE = '1e7d2c9a-5b3f-4a8e-9c6d-2f1a0b9e8d7c';
const CID_EXAMPLE = '3f2a8c1e-7b4d-4e9a-a1c2-5d6e7f8a9b0c';

export class VmIdDto {
  @UuidField({ description: 'Virtual machine id (VMID)', example: VMID_EXAMPLE })
  vmid: string;
}

export class DeleteVmDto extends VmIdDto {
  @FlagField({ description: 'Stop a running VM first (forcefully) instead of answering 409', example: false, optional: true })
  force = false;
}

export class ListVmsQueryDto extends PageQueryDto {
  @UuidField({ description: 'Catalog id (CID); needs the `view` permission', example: CID_EXAMPLE })
  cid: string;
}

export class RequestStateDto extends VmIdDto {
  @ApiProperty({ enum: REQUESTABLE_STATES, description: 'The state to reach', example: 'RUNNING' })
  @IsIn(REQUESTABLE_STATES)
  state: RequestableState;

  @FlagField({ description: 'Forceful change: an immediate stop instead of a guest (ACPI) shutdown', example: false, optional: true })
  force = false;
}

export class VmStateDto {
  @ApiProperty({ format: 'uuid', example: VMID_EXAMPLE }) vmid: string;
  @ApiProperty({ enum: VM_STATES, example: 'RUNNING' }) state: string;
}

export class VmNicDto {
  @ApiProperty({ format: 'uuid', example: '9b2d7f3e-1c4a-4e8b-a6d5-0f1e2d3c4b5a' }) nicid: string;
  @ApiProperty({ example: '52:54:00:12:34:56' }) mac: string;
}

/** A display as GET /v shows it (the request's DisplayDto also takes numeric strings). */
export class VmDisplayDto {
  @ApiProperty({ description: 'A way of identifying this display', example: 'main', required: false }) description?: string;
  @ApiProperty({ type: 'integer', description: 'Width in px', example: 1280 }) width: number;
  @ApiProperty({ type: 'integer', description: 'Height in px', example: 800 }) height: number;
}

/** A port forward as GET /v shows it. */
export class VmPortForwardDto {
  @ApiProperty({ enum: ['tcp', 'udp'], description: 'Transport protocol', example: 'tcp' }) protocol: 'tcp' | 'udp';
  @ApiProperty({ type: 'integer', description: "Port on the server's forward address", example: 8022 }) host_port: number;
  @ApiProperty({ type: 'integer', description: 'Port in the guest', example: 22 }) guest_port: number;
}

export class VmDto {
  @ApiProperty({ format: 'uuid', example: VMID_EXAMPLE }) vmid: string;
  @ApiProperty({ example: 'build-01' }) name: string;
  @ApiProperty({ format: 'uuid', description: 'The catalog (CID)', example: CID_EXAMPLE }) catalog: string;
  @ApiProperty({ enum: ['EFI', 'KBOOT', 'MAC'], example: 'EFI' }) type: string;
  @ApiProperty({ example: 2 }) cpu_count: number;
  @ApiProperty({ example: 2048 }) memory_size_mb: number;
  @ApiProperty({ type: [VmDisplayDto] }) displays: VmDisplayDto[];
  @ApiProperty({ type: [String], format: 'uuid', description: 'Storage devices (STID) in order', example: [] }) storage_devices: string[];
  @ApiProperty({ type: [String], format: 'uuid', description: 'The storage devices the VM attaches read-only: ISOs, read-only images, templates', example: [] })
  read_only_storage_devices: string[];
  @ApiProperty({ type: [VmNicDto] }) nics: VmNicDto[];
  @ApiProperty({ example: false }) rosetta: boolean;
  @ApiProperty({ example: false }) autostart: boolean;
  @ApiProperty({ type: [VmPortForwardDto], description: "Host ports forwarded to the guest, on the server's forward address" }) port_forwards: VmPortForwardDto[];
  @NullableStringProperty({ format: 'uuid', description: 'KBOOT: kernel (STID)' }) kernel: string | null;
  @NullableStringProperty({ format: 'uuid', description: 'KBOOT: initrd (STID)' }) initrd: string | null;
  @NullableStringProperty({ description: 'KBOOT: kernel command line' }) cmdline: string | null;
  @NullableStringProperty({ format: 'uuid', description: 'MAC: restore image (STID)' }) restore_image: string | null;
  @ApiProperty({ description: 'The node that runs the VM (GET /nodes)', example: 'mac-mini-01' }) node: string;
  @ApiProperty({ description: 'Whether that node heart-beats; false: `state` is the last one it recorded, and may be stale', example: true }) node_online: boolean;
  @ApiProperty({ enum: VM_STATES, example: 'STOPPED' }) state: string;
  @NullableStringProperty({ description: 'The last hypervisor error outside a request' }) last_error: string | null;
  @ApiProperty({ type: [String], description: 'What the driver does differently from the definition (e.g. Rosetta unavailable)', example: [] })
  notes: string[];
}

/** GET /v: the definition and state, and where the guest can be reached. */
export class VmDetailsDto extends VmDto {
  @ApiProperty({
    type: [String],
    description:
      "The guest's IP addresses as the driver learns them (qemu: the guest agent, and the host's neighbour table for BRIDGE NICs; vz: the host's DHCP leases); empty when unknown or the VM is not RUNNING",
    example: ['10.0.2.15'],
  })
  ip_addresses: string[];
}

export class VmCloneDto extends VmDto {
  @ApiProperty({ description: 'True when every copied disk shares its blocks with the source (copy-on-write); false when at least one is a sparse copy', example: true })
  cow: boolean;
}

export class VmListDto extends PageInfoDto {
  @ApiProperty({ type: [VmDto] }) vms: VmDto[];
}

export class ConsoleQueryDto extends VmIdDto {
  @IntegerQueryField({ description: 'How many bytes of recent output (default 65536)', example: 65536, min: 1, max: 1048576, optional: true })
  bytes: number = 65536;
}

export class ConsoleOutputDto {
  @ApiProperty({ format: 'uuid', example: VMID_EXAMPLE }) vmid: string;
  @ApiProperty({ description: 'The most recent serial output, as UTF-8 text', example: 'Velocity sim firmware\r\n' }) output: string;
  @ApiProperty({ description: 'Total bytes of output so far; the returned text ends there', example: 23 }) size: number;
}

export class ScreenshotQueryDto extends VmIdDto {
  @IntegerQueryField({ description: 'Display index (default 0)', example: 0, min: 0, max: 3, optional: true })
  display: number = 0;
}

export class ConsoleInputDto extends VmIdDto {
  @TextField({ description: 'Text to type on the serial console', example: 'root\n', minLength: 1, maxLength: 65536 })
  input: string;
}

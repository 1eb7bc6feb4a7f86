import { ApiProperty } from '@nestjs/swagger';
import { NodeView } from '../nodes.service';

export class NodeCapabilitiesDto {
  @ApiProperty({ enum: ['EFI', 'KBOOT', 'MAC'], isArray: true, description: 'The VM types the node runs', example: ['EFI', 'KBOOT'] }) vm_types: string[];
  @ApiProperty({ type: 'integer', description: 'The most virtual CPUs one VM may have', example: 8 }) max_cpu_count: number;
  @ApiProperty({ type: 'integer', description: 'The most memory one VM may have, MiB', example: 16384 }) max_memory_mb: number;
  @ApiProperty({ description: 'Display screenshots (GET /v/screenshot)', example: true }) screenshots: boolean;
  @ApiProperty({ description: 'macOS guests (PUT /v/mac)', example: false }) macos_guests: boolean;
  @ApiProperty({ description: 'Rosetta for Linux guests', example: false }) rosetta: boolean;
  @ApiProperty({ enum: ['kvm', 'tcg'], required: false, description: 'qemu only: KVM, or TCG (software emulation, much slower)', example: 'kvm' }) accelerator?: string;
}

/** One resource's total, what the node's VMs are given, and what is left. */
export class CapacityAmountDto {
  @ApiProperty({ type: 'integer', description: 'What the host offers VMs', example: 8 }) total: number;
  @ApiProperty({ type: 'integer', description: 'What the VMs placed on the node are given, whatever their state (a stopped VM may start any time)', example: 6 }) used: number;
  @ApiProperty({ type: 'integer', description: 'total - used, never below 0 (VMs may be given more than the host has: overcommit)', example: 2 }) free: number;
}

export class NodeCapacityDto {
  @ApiProperty({ type: CapacityAmountDto, description: 'Virtual CPUs' }) cpus: CapacityAmountDto;
  @ApiProperty({ type: CapacityAmountDto, description: 'Memory, MiB' }) memory_mb: CapacityAmountDto;
  @ApiProperty({ type: 'integer', description: 'VMs placed on the node', example: 3 }) vms: number;
}

export class NodeDto {
  @ApiProperty({ description: 'The node\'s name (VELOCITY_NODE_NAME); the `node` of VMs and storage', example: 'mac-mini-01' }) name: string;
  @ApiProperty({ description: 'How the other nodes reach it (VELOCITY_NODE_URL)', example: 'http://mac-mini-01:8080' }) url: string;
  @ApiProperty({ enum: ['vz', 'qemu', 'sim'], description: 'Its hypervisor driver', example: 'vz' }) driver: string;
  @ApiProperty({ type: NodeCapabilitiesDto }) capabilities: NodeCapabilitiesDto;
  @ApiProperty({ type: NodeCapacityDto }) capacity: NodeCapacityDto;
  @ApiProperty({ description: 'True while it heart-beats: its last heartbeat is under three VELOCITY_NODE_HEARTBEAT intervals old', example: true }) online: boolean;
  @ApiProperty({ format: 'date-time', description: 'When the node\'s server started', example: '2026-12-02T14:00:00.000Z' }) started_at: string;
  @ApiProperty({ format: 'date-time', description: 'Its last heartbeat', example: '2026-12-02T14:05:02.000Z' }) heartbeat_at: string;
}

export class NodeListDto {
  @ApiProperty({ type: [NodeDto], description: 'Every registered node, by name' }) nodes: NodeDto[];
}

function amount(total: number, used: number): CapacityAmountDto {
  return { total, used, free: Math.max(0, total - used) };
}

export function mapNode({ node, online, allocated }: NodeView): NodeDto {
  const c = node.capabilities;
  return {
    name: node.name,
    url: node.url,
    driver: node.driver,
    // Host details such as bridge interface names stay out, as in GET /health.
    capabilities: {
      vm_types: c.vm_types,
      max_cpu_count: c.max_cpu_count,
      max_memory_mb: c.max_memory_mb,
      screenshots: c.screenshots,
      macos_guests: c.macos_guests,
      rosetta: c.rosetta,
      ...(c.accelerator ? { accelerator: c.accelerator } : {}),
    },
    capacity: { cpus: amount(node.cpus, allocated.cpus), memory_mb: amount(node.memoryMb, allocated.memoryMb), vms: allocated.vms },
    online,
    started_at: new Date(node.startedAt).toISOString(),
    heartbeat_at: new Date(node.heartbeatAt).toISOString(),
  };
}

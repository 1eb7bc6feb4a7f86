import { NODE_FIELD, OnVmNode } from '../cluster/forwarding/on-owning-node.decorator';
import { Body, Controller, Delete, Get, HttpCode, Patch, Post, Put, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../common/swagger/api-errors.decorator';
import { HypervisorService } from '../hypervisor/hypervisor.service';
import { NodesService } from '../nodes/nodes.service';
import { QUOTA_EXCEEDED_FIELDS } from '../quotas/quota';
import { CurrentUser } from '../identity/auth/authenticated.decorator';
import { AuthenticatedUser } from '../identity/auth/authenticated-user';
import { CatalogAccess } from '../catalogs/permissions/catalog-permissions.service';
import { RequireCatalogPermission, ResolvedCatalog } from '../catalogs/permissions/require-catalog-permission.decorator';
import { CloneVmDto, CreateEfiVmDto, CreateKbootVmDto, CreateMacVmDto, UpdateVmDto, VmCreatedDto } from './dto/vm-definition.dto';
import { DeleteVmDto, ListVmsQueryDto, VmCloneDto, VmDetailsDto, VmDto, VmIdDto, VmListDto } from './dto/vm.dto';
import { mapVm } from './dto/vm.mapper';
import { VmStateService } from './vm-state.service';
import { CATALOG_BY_CATALOG_FIELD, VM_BY_VMID } from './vm-references';
import { VmRecord, VmRows } from './vms.repository';
import { VmsService } from './vms.service';

const CREATE_ERRORS = [
  'RESOURCE_NOT_FOUND',
  'VM_NAME_TAKEN',
  'STORAGE_IN_USE',
  'PORT_FORWARD_TAKEN',
  'HOST_LIMIT_EXCEEDED',
  'UNSUPPORTED_ON_HOST',
  'PORT_FORWARD_NEEDS_NAT',
  'INVALID_VM_CONFIG',
  'QUOTA_EXCEEDED',
  'NODE_NOT_FOUND',
  'NODE_OFFLINE',
  'SERVICE_UNAVAILABLE',
  'STORAGE_NOT_ON_NODE',
] as const;
const CREATE_EXTRAS = {
  404: {
    type: { type: 'string', example: 'storage', description: 'RESOURCE_NOT_FOUND only' },
    rid: { type: 'string', example: '7c9e6679-7425-40de-944b-e07fc1f90ae7', description: 'RESOURCE_NOT_FOUND only' },
    node: { type: 'string', example: 'mac-mini-02', description: 'NODE_NOT_FOUND only' },
  },
  409: {
    vmid: { type: 'string', example: '1e7d2c9a-5b3f-4a8e-9c6d-2f1a0b9e8d7c' },
    protocol: { type: 'string', example: 'tcp', description: 'PORT_FORWARD_TAKEN only' },
    host_port: { type: 'integer', example: 8022, description: 'PORT_FORWARD_TAKEN only' },
    node: { type: 'string', example: 'mac-mini-02', description: 'STORAGE_NOT_ON_NODE only: where the image lives' },
    stid: { type: 'string', example: '7c9e6679-7425-40de-944b-e07fc1f90ae7', description: 'STORAGE_NOT_ON_NODE only' },
  },
  422: QUOTA_EXCEEDED_FIELDS,
  503: { node: NODE_FIELD },
};

@ApiTags('virtual machines')
@Controller('v')
export class VmsController {
  constructor(
    private readonly vms: VmsService,
    private readonly states: VmStateService,
    private readonly hypervisor: HypervisorService,
    private readonly nodes: NodesService,
  ) {}

  @ApiOperation({ summary: 'Create an EFI virtual machine (`create` on the catalog).' })
  @Put('efi')
  @RequireCatalogPermission('create', { reference: CATALOG_BY_CATALOG_FIELD })
  @ApiOkResponse({ type: VmCreatedDto })
  @ApiErrors([...CREATE_ERRORS], CREATE_EXTRAS)
  async createEfiVm(@CurrentUser() caller: AuthenticatedUser, @Body() body: CreateEfiVmDto, @ResolvedCatalog() catalog: CatalogAccess): Promise<VmCreatedDto> {
    return this.created(await this.vms.create(caller, catalog, { ...body, type: 'EFI' }));
  }

  @ApiOperation({ summary: 'Create a direct-kernel-boot virtual machine (`create` on the catalog).' })
  @Put('kboot')
  @RequireCatalogPermission('create', { reference: CATALOG_BY_CATALOG_FIELD })
  @ApiOkResponse({ type: VmCreatedDto })
  @ApiErrors([...CREATE_ERRORS], CREATE_EXTRAS)
  async createKbootVm(@CurrentUser() caller: AuthenticatedUser, @Body() body: CreateKbootVmDto, @ResolvedCatalog() catalog: CatalogAccess): Promise<VmCreatedDto> {
    return this.created(await this.vms.create(caller, catalog, { ...body, type: 'KBOOT' }));
  }

  @ApiOperation({ summary: 'Create a macOS virtual machine where the driver supports it (`create` on the catalog).' })
  @Put('mac')
  @RequireCatalogPermission('create', { reference: CATALOG_BY_CATALOG_FIELD })
  @ApiOkResponse({ type: VmCreatedDto })
  @ApiErrors([...CREATE_ERRORS], CREATE_EXTRAS)
  async createMacVm(@CurrentUser() caller: AuthenticatedUser, @Body() body: CreateMacVmDto, @ResolvedCatalog() catalog: CatalogAccess): Promise<VmCreatedDto> {
    return this.created(await this.vms.create(caller, catalog, { ...body, type: 'MAC' }));
  }

  @ApiOperation({ summary: 'One VM\'s definition and state (`view`).' })
  @Get()
  // The definition stands alone; the guest's addresses need its node, and are left out while it is offline.
  @OnVmNode({ whenOffline: 'answer-here' })
  @RequireCatalogPermission('view', { reference: VM_BY_VMID })
  @ApiOkResponse({ type: VmDetailsDto })
  async getVm(@Query() query: VmIdDto): Promise<VmDetailsDto> {
    const vm = this.toDto(await this.vms.view(query.vmid));
    return { ...vm, ip_addresses: await this.hypervisor.guestAddresses(query.vmid) };
  }

  @ApiOperation({ summary: 'A catalog\'s VMs, paginated (`view`).' })
  @Get('list')
  @RequireCatalogPermission('view')
  @ApiOkResponse({ type: VmListDto })
  async listVms(@Query() query: ListVmsQueryDto): Promise<VmListDto> {
    const { rows, total } = await this.vms.list(query.cid, query.limit, query.offset);
    return { vms: rows.map((r) => this.toDto(r)), total, limit: query.limit, offset: query.offset };
  }

  @ApiOperation({ summary: 'Change a stopped VM\'s definition; fields left out keep their value (`alter`).' })
  @Patch()
  @OnVmNode()
  @RequireCatalogPermission('alter', { reference: VM_BY_VMID })
  @ApiOkResponse({ type: VmDto })
  @ApiErrors(['VM_NOT_STOPPED', 'VM_NOT_MOVABLE', 'VM_ON_OTHER_NODE', ...CREATE_ERRORS], CREATE_EXTRAS)
  async updateVm(@CurrentUser() caller: AuthenticatedUser, @Body() body: UpdateVmDto, @ResolvedCatalog() catalog: CatalogAccess): Promise<VmDto> {
    const { vmid, ...changes } = body;
    return this.toDto(await this.vms.update(caller, vmid, catalog.gid, changes));
  }

  @ApiOperation({
    summary: 'Copy a stopped VM into a catalog (`view` on the source\'s catalog, `create` on the target).',
    description:
      'The copy has the same definition under a new name: each disk the source writes is cloned (copy-on-write where the filesystem can, ' +
      'else a sparse copy) into the target catalog\'s group, read-only disks, kernels and restore images are shared, and the NICs are the same ' +
      'with fresh MAC addresses. The copy runs on the source\'s node, where its disks are copied. A source that is not STOPPED answers 409. ' +
      'A clone that fails halfway leaves nothing behind.',
  })
  @Post('clone')
  @OnVmNode()
  @HttpCode(200)
  @RequireCatalogPermission('view', { reference: VM_BY_VMID, also: { permission: 'create', reference: CATALOG_BY_CATALOG_FIELD } })
  @ApiOkResponse({ type: VmCloneDto })
  @ApiErrors(['VM_NOT_STOPPED', 'VM_ON_OTHER_NODE', 'VM_NAME_TAKEN', 'UNSUPPORTED_ON_HOST', 'INVALID_VM_CONFIG', 'QUOTA_EXCEEDED', 'HOST_STORAGE_FULL'], { 409: CREATE_EXTRAS[409], 422: QUOTA_EXCEEDED_FIELDS })
  async cloneVm(@Body() body: CloneVmDto, @ResolvedCatalog('catalog') target: CatalogAccess): Promise<VmCloneDto> {
    const { record, cow } = await this.vms.clone(body.vmid, { cid: target.cid, gid: target.gid }, body.name);
    return { ...this.toDto(record), cow };
  }

  @ApiOperation({ summary: 'Remove a VM and its hypervisor files; its storage stays (`remove`).' })
  @Delete()
  @OnVmNode()
  @RequireCatalogPermission('remove', { reference: VM_BY_VMID })
  @ApiOkResponse({ type: VmIdDto })
  @ApiErrors(['VM_NOT_STOPPED', 'VM_ON_OTHER_NODE', 'HYPERVISOR_FAILURE'], { 409: { vmid: { type: 'string', example: '1e7d2c9a-5b3f-4a8e-9c6d-2f1a0b9e8d7c' }, node: NODE_FIELD } })
  async deleteVm(@Body() body: DeleteVmDto): Promise<VmIdDto> {
    await this.vms.delete(body.vmid, body.force);
    return { vmid: body.vmid };
  }

  private created(record: VmRecord): VmCreatedDto {
    return { vmid: record.vm.vmid };
  }

  private toDto(record: VmRows): VmDto {
    return mapVm(record, this.states.current(record.vm.vmid, record.vm.state), this.hypervisor.capabilities, this.nodes.placementOf(record.vm.node));
  }
}

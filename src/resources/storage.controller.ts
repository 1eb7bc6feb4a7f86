import { OnImageNode } from '../cluster/forwarding/on-owning-node.decorator';
import { Body, Controller, Delete, Get, HttpCode, Patch, Post, Put, Query, Req, Res } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiErrors } from '../common/swagger/api-errors.decorator';
import { Authenticated, CurrentUser } from '../identity/auth/authenticated.decorator';
import { AuthenticatedUser } from '../identity/auth/authenticated-user';
import { QUOTA_EXCEEDED_FIELDS } from '../quotas/quota';
import {
  ClonedStorageDto,
  CloneStorageDto,
  CreateStorageDto,
  DeletedStorageDto,
  ListStorageQueryDto,
  mapStorage,
  StorageDto,
  StorageIdDto,
  StorageListDto,
  UpdateStorageDto,
  UploadStorageQueryDto,
} from './dto/storage.dto';
import { StorageService } from './storage.service';

const MIB = 1024 * 1024;

@ApiTags('resources')
@Controller('r/storage')
export class StorageController {
  constructor(private readonly storage: StorageService) {}

  @ApiOperation({ summary: 'Create a blank, sparse raw disk image for a group (member, poolmanager or root).' })
  @Put()
  @Authenticated()
  @ApiOkResponse({ type: StorageDto })
  @ApiErrors(['VALIDATION_FAILED', 'GROUP_NOT_FOUND', 'HOST_LIMIT_EXCEEDED', 'QUOTA_EXCEEDED', 'HOST_STORAGE_FULL'], { 422: QUOTA_EXCEEDED_FIELDS })
  async createStorage(@CurrentUser() caller: AuthenticatedUser, @Body() body: CreateStorageDto): Promise<StorageDto> {
    return mapStorage(await this.storage.createBlank(caller, body, body.size_mb * MIB));
  }

  @ApiOperation({
    summary: 'Clone an image into a group (read access to the source, management of the group).',
    description: 'Copy-on-write where the filesystem can (APFS, btrfs, XFS), else a copy that keeps the image sparse; `cow` says which. Format and read-only flag carry over; the clone is never a template.',
  })
  @Post('clone')
  @HttpCode(200)
  @Authenticated()
  // Beside its source: copied on the node that holds the file.
  @OnImageNode()
  @ApiOkResponse({ type: ClonedStorageDto })
  @ApiErrors(['VALIDATION_FAILED', 'STORAGE_NOT_FOUND', 'GROUP_NOT_FOUND', 'STORAGE_IN_USE', 'QUOTA_EXCEEDED', 'HOST_STORAGE_FULL'], { 422: QUOTA_EXCEEDED_FIELDS })
  async cloneStorage(@CurrentUser() caller: AuthenticatedUser, @Body() body: CloneStorageDto): Promise<ClonedStorageDto> {
    const { image, cow } = await this.storage.clone(caller, body);
    return { ...mapStorage(image), cow };
  }

  @ApiOperation({
    summary: 'Grow a raw image (sparsely) and/or mark it a template; fields left out keep their value.',
    description: 'Growing needs every VM using the image stopped (409). A template is attached to VMs read-only only.',
  })
  @Patch()
  @Authenticated()
  @OnImageNode()
  @ApiOkResponse({ type: StorageDto })
  @ApiErrors(['VALIDATION_FAILED', 'STORAGE_NOT_FOUND', 'STORAGE_IN_USE', 'STORAGE_CANNOT_GROW', 'HOST_LIMIT_EXCEEDED', 'QUOTA_EXCEEDED', 'HOST_STORAGE_FULL'], { 422: QUOTA_EXCEEDED_FIELDS })
  async updateStorage(@CurrentUser() caller: AuthenticatedUser, @Body() body: UpdateStorageDto): Promise<StorageDto> {
    // A null field is left out, as IsOptional lets it through.
    const sizeBytes = body.size_mb == null ? undefined : body.size_mb * MIB;
    return mapStorage(await this.storage.update(caller, body.stid, { sizeBytes, template: body.template ?? undefined }));
  }

  @ApiOperation({ summary: 'Upload an image (installer ISO or raw disk) as the request body, streamed to disk.', description: 'Send `Content-Type: application/octet-stream`; the authkey goes in the header or query.' })
  @Post('upload')
  @HttpCode(200)
  @Authenticated()
  @ApiConsumes('application/octet-stream')
  @ApiBody({ schema: { type: 'string', format: 'binary' } })
  @ApiOkResponse({ type: StorageDto })
  @ApiErrors(['VALIDATION_FAILED', 'GROUP_NOT_FOUND', 'BODY_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'QUOTA_EXCEEDED', 'HOST_STORAGE_FULL'], { 422: QUOTA_EXCEEDED_FIELDS })
  async uploadStorage(
    @CurrentUser() caller: AuthenticatedUser,
    @Query() query: UploadStorageQueryDto,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<StorageDto> {
    const length = request.headers['content-length'];
    try {
      const image = await this.storage.upload(
        caller,
        { group: query.group, name: query.name, format: query.format, readOnly: query.format === 'iso' || query.read_only },
        request.raw,
        length === undefined ? undefined : Number(length),
      );
      return mapStorage(image);
    } catch (error) {
      // The rest of a refused body is not read; closing the connection after the answer
      // is how HTTP/1.1 tells the client to stop sending it.
      void reply.header('connection', 'close');
      throw error;
    }
  }

  @ApiOperation({ summary: 'One image (member of the owning group, poolmanager or root).' })
  @Get()
  @Authenticated()
  @ApiOkResponse({ type: StorageDto })
  @ApiErrors(['VALIDATION_FAILED', 'STORAGE_NOT_FOUND'])
  async getStorage(@CurrentUser() caller: AuthenticatedUser, @Query() query: StorageIdDto): Promise<StorageDto> {
    return mapStorage(await this.storage.get(caller, query.stid));
  }

  @ApiOperation({ summary: 'The images the caller may use, paginated.' })
  @Get('list')
  @Authenticated()
  @ApiOkResponse({ type: StorageListDto })
  @ApiErrors(['VALIDATION_FAILED'])
  async listStorage(@CurrentUser() caller: AuthenticatedUser, @Query() query: ListStorageQueryDto): Promise<StorageListDto> {
    const { items, total } = await this.storage.list(caller, query);
    return { storage: items.map(mapStorage), total, limit: query.limit, offset: query.offset };
  }

  @ApiOperation({ summary: 'Delete an image and its file; 409 while a VM uses it.' })
  @Delete()
  @Authenticated()
  @OnImageNode()
  @ApiOkResponse({ type: DeletedStorageDto })
  @ApiErrors(['VALIDATION_FAILED', 'STORAGE_NOT_FOUND', 'STORAGE_IN_USE'])
  async deleteStorage(@CurrentUser() caller: AuthenticatedUser, @Body() body: StorageIdDto): Promise<DeletedStorageDto> {
    await this.storage.delete(caller, body.stid);
    return { stid: body.stid };
  }
}

import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
import { BooleanField, FlagField, IntegerField, TextField, UuidField } from '../../common/validation/fields';
import { PageInfoDto, PageQueryDto } from '../../common/validation/page.dto';
import { StorageEntity } from '../entities/storage.entity';

const STID_EXAMPLE = '7c9e6679-7425-40de-944b-e07fc1f90ae7';
const GID_EXAMPLE = '5a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
/** A label, never a path: no slashes, no leading dot, no control characters. */
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9 ._+-]*$/;

function StorageNameField() {
  return TextField({ description: 'A label for the image (letters, digits, space, . _ + -; never a path)', example: 'debian-12.iso', minLength: 1, maxLength: 128, pattern: NAME_PATTERN });
}

/** The largest image size_mb takes: 16 TiB. */
const MAX_SIZE_MB = 16 * 1024 * 1024;

export class CreateStorageDto {
  @UuidField({ description: 'Owning group (GID)', example: GID_EXAMPLE })
  group: string;

  @StorageNameField()
  name: string;

  @IntegerField({ description: 'Size of the blank raw image in MiB', example: 10240, min: 1, max: MAX_SIZE_MB })
  size_mb: number;
}

export class CloneStorageDto {
  @UuidField({ description: 'The image to clone (STID)', example: STID_EXAMPLE })
  stid: string;

  @UuidField({ description: 'Owning group of the clone (GID)', example: GID_EXAMPLE })
  group: string;

  @StorageNameField()
  name: string;
}

export class UpdateStorageDto {
  @UuidField({ description: 'Storage id (STID)', example: STID_EXAMPLE })
  stid: string;

  @IntegerField({ description: 'New size in MiB, larger than the current one (raw images only; the new space is sparse)', example: 20480, min: 1, max: MAX_SIZE_MB, optional: true })
  size_mb?: number;

  @BooleanField({ description: 'Make the image a template (attached to VMs read-only only), or an ordinary image again', example: true, optional: true })
  template?: boolean;
}

export class UploadStorageQueryDto {
  @UuidField({ description: 'Owning group (GID)', example: GID_EXAMPLE })
  group: string;

  @StorageNameField()
  name: string;

  @ApiPropertyOptional({ enum: ['raw', 'iso'], description: 'Image format; iso images are always read-only. Default raw', example: 'iso' })
  @IsOptional()
  @IsIn(['raw', 'iso'])
  format: 'raw' | 'iso' = 'raw';

  @FlagField({ description: 'Attach read-only (any number of VMs may use it). Default false; true for iso', example: true, optional: true })
  read_only = false;
}

export class StorageIdDto {
  @UuidField({ description: 'Storage id (STID)', example: STID_EXAMPLE })
  stid: string;
}

export class DeletedStorageDto {
  @ApiProperty({ format: 'uuid', example: STID_EXAMPLE }) stid: string;
}

export class ListStorageQueryDto extends PageQueryDto {}

export class StorageDto {
  @ApiProperty({ format: 'uuid', example: STID_EXAMPLE }) stid: string;
  @ApiProperty({ example: 'debian-12.iso' }) name: string;
  @ApiProperty({ format: 'uuid', description: 'Owning group', example: GID_EXAMPLE }) gid: string;
  @ApiProperty({ enum: ['raw', 'iso'], example: 'iso' }) format: string;
  @ApiProperty({ example: true }) read_only: boolean;
  @ApiProperty({ description: 'A template: attached to VMs read-only only, the natural source of POST /r/storage/clone', example: false }) template: boolean;
  @ApiProperty({ description: 'Size in bytes (the virtual size for sparse images)', example: 657457152 }) size_bytes: number;
  @ApiProperty({
    type: String,
    nullable: true,
    description: "The node whose data directory holds the image (GET /nodes); only VMs on that node attach it. Null: on the cluster's shared storage (VELOCITY_SHARED_STORAGE_DIR), which every node attaches",
    example: 'mac-mini-01',
  })
  node: string | null;
}

export class ClonedStorageDto extends StorageDto {
  @ApiProperty({ description: 'True where the clone shares the source\'s blocks (copy-on-write: APFS, btrfs, XFS), false for a sparse copy', example: true }) cow: boolean;
}

export class StorageListDto extends PageInfoDto {
  @ApiProperty({ type: [StorageDto] }) storage: StorageDto[];
}

export function mapStorage(image: StorageEntity): StorageDto {
  return {
    stid: image.stid,
    name: image.name,
    gid: image.gid,
    format: image.format,
    read_only: image.readOnly,
    template: image.template,
    size_bytes: image.sizeBytes,
    // Rows from before nodes existed are claimed by the first node to start; only shared images keep none.
    node: image.node,
  };
}

import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsDateString,
  IsInt,
  IsOptional,
  IsString,
  IsUUID,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
} from 'class-validator';
import { integerRangePattern } from './integer-range-pattern';

/*
 * Field decorators that pair each validator with its OpenAPI description, so that what
 * the server accepts and what the document says cannot drift apart.
 */

interface FieldOptions {
  description: string;
  example?: unknown;
  optional?: boolean;
}

function property(options: FieldOptions, schema: Record<string, unknown>) {
  const swagger = { description: options.description, example: options.example, ...schema };
  return options.optional
    ? applyDecorators(ApiPropertyOptional(swagger), IsOptional())
    : applyDecorators(ApiProperty(swagger));
}

export function UuidField(options: FieldOptions) {
  return applyDecorators(property(options, { type: String, format: 'uuid' }), IsUUID('all'));
}

export function UuidArrayField(options: FieldOptions & { maxItems?: number }) {
  const maxItems = options.maxItems ?? 256;
  return applyDecorators(
    property(options, { type: [String], format: 'uuid', maxItems, uniqueItems: true }),
    IsArray(),
    ArrayMaxSize(maxItems),
    ArrayUnique(),
    IsUUID('all', { each: true }),
  );
}

/** A user or group name: letters, digits, `.`, `_`, `-`, starting with a letter or digit. */
export function NameField(options: FieldOptions) {
  return applyDecorators(
    property(options, { type: String, minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' }),
    IsString(),
    MinLength(1),
    MaxLength(64),
    Matches(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, { message: '$property must start with a letter or digit and contain only letters, digits, ".", "_" and "-"' }),
  );
}

export function TextField(options: FieldOptions & { minLength?: number; maxLength: number; pattern?: RegExp }) {
  const minLength = options.minLength ?? 0;
  const decorators = [
    property(options, { type: String, minLength, maxLength: options.maxLength, pattern: options.pattern?.source }),
    IsString(),
    MinLength(minLength),
    MaxLength(options.maxLength),
  ];
  if (options.pattern) decorators.push(Matches(options.pattern, { message: `$property must match ${options.pattern.source}` }));
  return applyDecorators(...decorators);
}

export function BooleanField(options: FieldOptions) {
  return applyDecorators(property(options, { type: Boolean }), IsBoolean());
}

/** What the server takes for a whole number: a JSON number or a numeric string (trimmed). */
function integerValidation(min: number, max: number) {
  return applyDecorators(
    Transform(({ value }) => (typeof value === 'string' && /^\d{1,15}$/.test(value.trim()) ? Number(value.trim()) : value)),
    IsInt(),
    Min(min),
    Max(max),
  );
}

/**
 * A whole number in a JSON body, which may arrive as a JSON number or as a numeric string
 * (the seed's examples quote numbers). The document says both, each with the same bounds:
 * `minimum`/`maximum` for the number, a pattern of exactly the numbers in range for the
 * string (JSON Schema's bounds do not apply to strings).
 */
export function IntegerField(options: FieldOptions & { min: number; max: number }) {
  return applyDecorators(property(options, integerOrNumericString(options.min, options.max)), integerValidation(options.min, options.max));
}

/** An optional IntegerField that also takes null (which clears what the field sets). */
export function NullableIntegerField(options: FieldOptions & { min: number; max: number }) {
  return applyDecorators(
    property({ ...options, optional: true }, integerOrNumericString(options.min, options.max, { nullable: true })),
    integerValidation(options.min, options.max),
  );
}

/** OpenAPI 3.0 puts `nullable` beside a `type`: on the number, the one alternative that takes null. */
function integerOrNumericString(min: number, max: number, { nullable = false } = {}) {
  return {
    oneOf: [
      { type: 'integer', minimum: min, maximum: max, ...(nullable ? { nullable } : {}) },
      { type: 'string', pattern: integerRangePattern(min, max), description: `A numeric string from ${min} to ${max}` },
    ],
  };
}

/**
 * A whole number in the query string. Query values are strings on the wire anyway, so the
 * document says `integer` (what Swagger UI and generated clients then send as digits).
 */
export function IntegerQueryField(options: FieldOptions & { min: number; max: number }) {
  return applyDecorators(property(options, { type: 'integer', minimum: options.min, maximum: options.max }), integerValidation(options.min, options.max));
}

/** A boolean that may also arrive as "true"/"false" (query strings). */
export function FlagField(options: FieldOptions) {
  return applyDecorators(
    property(options, { type: Boolean }),
    Transform(({ value }) => (value === 'true' ? true : value === 'false' ? false : value)),
    IsBoolean(),
  );
}


/** RFC 3339 (the ISO 8601 profile OpenAPI's `date-time` means): a date, a time and a zone. */
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;

/** A point in time as an RFC 3339 string, such as `2026-12-02T10:00:00Z`; kept as the string. */
export function DateTimeField(options: FieldOptions) {
  return applyDecorators(
    property(options, { type: String, format: 'date-time' }),
    IsString(),
    Matches(DATE_TIME, { message: '$property must be a date and time such as 2026-12-02T10:00:00Z' }),
    IsDateString({ strict: true }, { message: '$property must be a valid date and time' }),
  );
}

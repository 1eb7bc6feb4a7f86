import { ApiProperty } from '@nestjs/swagger';

interface NullableOptions {
  description: string;
  format?: string;
  /** The values the field takes besides null. */
  enum?: readonly string[];
}

/**
 * A response field that is a string or null. The type is spelled out because Swagger
 * infers `object` from `string | null`, which both breaks generated clients and makes every
 * live response violate the document; an enum lists null among its values, as OpenAPI 3.0
 * requires of a nullable enum.
 */
export function NullableStringProperty(options: NullableOptions) {
  const { enum: values, ...rest } = options;
  return ApiProperty({ type: String, nullable: true, example: null, ...rest, ...(values ? { enum: [...values, null] } : {}) });
}

import { ValidationError, ValidationPipe } from '@nestjs/common';
import { ApiError } from '../errors/api-error';
import { memoizeValidationMetadata } from './validation-metadata-memo';

function describe(errors: ValidationError[], parent = ''): string[] {
  return errors.flatMap((error) => {
    const path = parent ? `${parent}.${error.property}` : error.property;
    const own = Object.values(error.constraints ?? {}).map((text) =>
      // class-validator words its messages "property X should not exist"; say the field once.
      text.startsWith(`property ${error.property} `) ? `${path}: unknown field` : `${path}: ${text.replace(`${error.property} `, '')}`,
    );
    return [...own, ...describe(error.children ?? [], path)];
  });
}

/**
 * Validation for every request DTO: unknown fields are refused (not silently dropped),
 * and the error names each bad field.
 */
export function createValidationPipe(): ValidationPipe {
  memoizeValidationMetadata();
  return new ValidationPipe({
    transform: true,
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    transformOptions: { enableImplicitConversion: false },
    exceptionFactory: (errors) => new ApiError('VALIDATION_FAILED', `Invalid request: ${describe(errors).join('; ')}`),
  });
}

import { applyDecorators } from '@nestjs/common';
import { ApiResponse, getSchemaPath, OpenAPIObject } from '@nestjs/swagger';
import { ResponseObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { ERROR_CODES, ErrorCode } from '../errors/error-codes';
import { ErrorResponseDto } from './error-response.dto';

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not found',
  405: 'Method not allowed',
  406: 'Not acceptable',
  409: 'Conflict',
  413: 'Payload too large',
  415: 'Unsupported media type',
  422: 'Unprocessable entity',
  426: 'Upgrade required',
  500: 'Internal server error',
  503: 'Service unavailable',
  507: 'Insufficient storage',
};

/** Extra fields of a status's error bodies; `only`: a field that one code of the status carries, shown in that code's example alone. */
type ExtraFields = Record<number, Record<string, { type: string; example: unknown; enum?: readonly string[]; only?: ErrorCode }>>;

/** What any operation may answer, whatever its handler: a body the server cannot read, the server failing or shutting down. */
const ERRORS_OF_EVERY_OPERATION: ErrorCode[] = ['MALFORMED_BODY', 'BODY_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'INTERNAL_ERROR', 'SERVICE_UNAVAILABLE'];

/**
 * Documents the error responses a handler can give, grouped by status, each with an
 * example body per code. `extra` adds the seed's extra fields for a status (e.g. 409 → vmid).
 */
export function ApiErrors(codes: ErrorCode[], extra: ExtraFields = {}) {
  return applyDecorators(...errorResponses(codes, extra).map(([status, response]) => ApiResponse({ status, ...response })));
}

/**
 * Adds to every operation of the document the errors any request may get (see
 * ERRORS_OF_EVERY_OPERATION) where the handler's own @ApiErrors left the status out, so a
 * generated client knows every status it can meet.
 */
export function documentErrorsOfEveryOperation(document: OpenAPIObject): void {
  const common = errorResponses(ERRORS_OF_EVERY_OPERATION);
  for (const item of Object.values(document.paths)) {
    for (const method of ['get', 'put', 'post', 'delete', 'patch'] as const) {
      const operation = item[method];
      if (!operation) continue;
      for (const [status, response] of common) operation.responses[String(status)] ??= response;
    }
  }
}

/** The response object of each status the codes have, in the `{code, message}` shape plus the status's extra fields. */
function errorResponses(codes: ErrorCode[], extra: ExtraFields = {}): Array<[number, ResponseObject]> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) {
    const status = ERROR_CODES[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return [...byStatus.entries()].map(([status, list]) => {
    const extraProps = extra[status] ?? {};
    const response: ResponseObject = {
      description: `${STATUS_TEXT[status] ?? 'Error'}: ${list.map((c) => `\`${c}\` — ${ERROR_CODES[c].description}`).join(' ')}`,
      content: {
        'application/json': {
          schema: Object.keys(extraProps).length
            ? {
                allOf: [
                  { $ref: getSchemaPath(ErrorResponseDto) },
                  {
                    type: 'object',
                    properties: Object.fromEntries(Object.entries(extraProps).map(([k, v]) => [k, { type: v.type, ...(v.enum ? { enum: [...v.enum] } : {}) }])),
                  },
                ],
              }
            : { $ref: getSchemaPath(ErrorResponseDto) },
          examples: Object.fromEntries(
            list.map((code) => [
              code,
              {
                value: {
                  code,
                  message: ERROR_CODES[code].description,
                  ...Object.fromEntries(Object.entries(extraProps).filter(([, v]) => (v.only ?? code) === code).map(([k, v]) => [k, v.example])),
                },
              },
            ]),
          ),
        },
      },
    };
    return [status, response];
  });
}

import { applyDecorators } from '@nestjs/common';
import { ApiResponse, getSchemaPath } from '@nestjs/swagger';
import { ERROR_CODES, ErrorCode } from '../errors/error-codes';
import { ErrorResponseDto } from './error-response.dto';

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not found',
  406: 'Not acceptable',
  409: 'Conflict',
  413: 'Payload too large',
  415: 'Unsupported media type',
  422: 'Unprocessable entity',
  426: 'Upgrade required',
  500: 'Internal server error',
  503: 'Service unavailable',
};

/**
 * Documents the error responses a handler can give, grouped by status, each with an
 * example body per code. `extra` adds the seed's extra fields for a status (e.g. 409 → vmid).
 */
export function ApiErrors(codes: ErrorCode[], extra: Record<number, Record<string, { type: string; example: unknown }>> = {}) {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) {
    const status = ERROR_CODES[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return applyDecorators(
    ...[...byStatus.entries()].map(([status, list]) => {
      const extraProps = extra[status] ?? {};
      return ApiResponse({
        status,
        description: `${STATUS_TEXT[status] ?? 'Error'}: ${list.map((c) => `\`${c}\` — ${ERROR_CODES[c].description}`).join(' ')}`,
        content: {
          'application/json': {
            schema: Object.keys(extraProps).length
              ? {
                  allOf: [
                    { $ref: getSchemaPath(ErrorResponseDto) },
                    {
                      type: 'object',
                      properties: Object.fromEntries(Object.entries(extraProps).map(([k, v]) => [k, { type: v.type }])),
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
                    ...Object.fromEntries(Object.entries(extraProps).map(([k, v]) => [k, v.example])),
                  },
                },
              ]),
            ),
          },
        },
      });
    }),
  );
}

/**
 * Every error code the API returns, in one place. Codes are stable identifiers that
 * clients may switch on; messages are for humans and may change. The OpenAPI document
 * lists them (see ErrorResponseDto).
 */
export const ERROR_CODES = {
  VALIDATION_FAILED: { status: 400, description: 'The request body or query failed validation; the message names the fields.' },
  MALFORMED_BODY: { status: 400, description: 'The request body is not valid JSON.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, description: 'The request body has a content type this endpoint does not take.' },
  BODY_TOO_LARGE: { status: 413, description: 'The request body is larger than the endpoint accepts.' },
  REQUEST_REJECTED: { status: 400, description: 'The request was refused before it reached a handler (for example an unsupported method).' },
  AUTH_REQUIRED: { status: 401, description: 'No authkey, or an unknown or expired one.' },
  INVALID_CREDENTIALS: { status: 403, description: 'Wrong username or password.' },
  AUTHKEY_INVALID: { status: 403, description: 'The authkey to renew is unknown or expired.' },
  PERMISSION_DENIED: { status: 401, description: 'The caller lacks the group membership or permission this action needs.' },
  PROTECTED_GROUP: { status: 406, description: 'The action would change the root group, a special group or a personal group in a way that is not allowed.' },
  NOT_FOUND: { status: 404, description: 'The route does not exist.' },
  USER_NOT_FOUND: { status: 404, description: 'No such user.' },
  GROUP_NOT_FOUND: { status: 404, description: 'No such group, or the caller is not a member of it.' },
  CATALOG_NOT_FOUND: { status: 404, description: 'No such catalog, or the caller cannot see it.' },
  SHARE_NOT_FOUND: { status: 404, description: 'The catalog has no share for that group.' },
  USERNAME_TAKEN: { status: 409, description: 'A user with that name exists.' },
  GROUPNAME_TAKEN: { status: 409, description: 'A group with that name exists.' },
  INTERNAL_ERROR: { status: 500, description: 'An unexpected failure; details are in the server log under the request id.' },
  SERVICE_UNAVAILABLE: { status: 503, description: 'A dependency (the database) is not reachable.' },
} as const satisfies Record<string, { status: number; description: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

import { JSON_DEPTH_LIMIT } from '../http/json-depth';

/**
 * Every error code the API returns, in one place. Codes are stable identifiers that
 * clients may switch on; messages are for humans and may change. The OpenAPI document
 * lists them (see ErrorResponseDto).
 */
export const ERROR_CODES = {
  VALIDATION_FAILED: { status: 400, description: 'The request body or query failed validation; the message names the fields.' },
  MALFORMED_BODY: { status: 400, description: `The request body is not valid JSON, or nests objects and arrays deeper than ${JSON_DEPTH_LIMIT} levels.` },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, description: 'The request body has a content type this endpoint does not take.' },
  BODY_TOO_LARGE: { status: 413, description: 'The request body is larger than the endpoint accepts.' },
  REQUEST_REJECTED: { status: 400, description: 'The request was refused before it reached a handler (for example an unsupported method).' },
  HEADERS_TOO_LARGE: { status: 431, description: 'The request headers are larger than the server accepts.' },
  REQUEST_TIMEOUT: { status: 408, description: 'The request did not arrive in time.' },
  AUTH_REQUIRED: { status: 401, description: 'No authkey, or an unknown or expired one.' },
  INVALID_CREDENTIALS: { status: 403, description: 'Wrong username or password.' },
  AUTHKEY_INVALID: { status: 403, description: 'The authkey to renew is unknown or expired.' },
  PERMISSION_DENIED: {
    status: 401,
    description:
      'The caller lacks the group membership or permission this action needs, or calls with an API token whose scope does not allow the action (read-only, limited to other catalogs, or an action tokens never may: managing tokens, changing users, groups or memberships, renewing or dropping authkeys).',
  },
  RATE_LIMITED: { status: 429, description: 'Too many attempts (logins per client address or per username, or passwords being checked at once); `Retry-After` says when to try again.' },
  PROTECTED_GROUP: { status: 406, description: 'The action would change the root group, a special group or a personal group in a way that is not allowed.' },
  NOT_FOUND: { status: 404, description: 'The route does not exist.' },
  METHOD_NOT_ALLOWED: { status: 405, description: 'The path exists but does not take this method; the `Allow` header lists those it takes.' },
  USER_NOT_FOUND: { status: 404, description: 'No such user.' },
  GROUP_NOT_FOUND: { status: 404, description: 'No such group, or the caller is not a member of it.' },
  CATALOG_NOT_FOUND: { status: 404, description: 'No such catalog, or the caller cannot see it.' },
  SHARE_NOT_FOUND: { status: 404, description: 'The catalog has no share for that group.' },
  VM_NOT_FOUND: { status: 404, description: 'No such virtual machine, or the caller cannot see it.' },
  STORAGE_NOT_FOUND: { status: 404, description: 'No such storage image, or the caller cannot see it.' },
  NIC_NOT_FOUND: { status: 404, description: 'No such NIC, or the caller cannot see it.' },
  RESOURCE_NOT_FOUND: { status: 404, description: 'A resource the VM links to does not exist or is not visible; `type` and `rid` name it.' },
  NODE_NOT_FOUND: { status: 404, description: 'No node of that name is registered (GET /nodes lists them); `node` names it.' },
  TOKEN_NOT_FOUND: { status: 404, description: 'No such API token, or it is not the caller\'s.' },
  USERNAME_TAKEN: { status: 409, description: 'A user with that name exists.' },
  GROUPNAME_TAKEN: { status: 409, description: 'A group with that name exists.' },
  TOKEN_NAME_TAKEN: { status: 409, description: 'The caller already has an API token with that name.' },
  VM_NAME_TAKEN: { status: 409, description: 'A VM with that name exists in the catalog; `vmid` names it.' },
  VM_NOT_STOPPED: { status: 409, description: 'The action needs a stopped VM (DELETE /v takes `force` to stop it first).' },
  STORAGE_IN_USE: {
    status: 409,
    description:
      'The storage is attached to a VM in a way the action cannot allow: a writable image to a second VM, an image to a VM that is not stopped (growing it, cloning a disk the VM writes), a template flag change under an attached VM; `vmid` names it.',
  },
  GROUP_IN_USE: { status: 409, description: 'The user or group owns storage or NICs that VMs outside it still use; detach them first.' },
  VM_NOT_RUNNING: { status: 409, description: 'The console, display or remote screen needs a running (or paused) VM.' },
  PORT_FORWARD_TAKEN: { status: 409, description: 'Another VM forwards that host port with that protocol; `vmid`, `protocol` and `host_port` name it.' },
  STORAGE_NOT_ON_NODE: {
    status: 409,
    description:
      'A VM attaches images of its own node only: an image lives on another node than the one the VM is to run on (or its images live on several nodes); `stid` and `node` name the image and where it lives.',
  },
  VM_NOT_MOVABLE: { status: 409, description: 'macOS VMs cannot move between nodes: their platform identity lives beside them on their node.' },
  NIC_IN_USE: { status: 409, description: 'The NIC is attached to a VM; `vmid` names it.' },
  NIC_NOT_REMOVABLE: { status: 409, description: 'NAT and host-interface NICs are built in and cannot be deleted.' },
  UPGRADE_REQUIRED: { status: 426, description: 'The endpoint is a WebSocket: send the request as a WebSocket upgrade.' },
  STATE_CHANGE_NOT_ALLOWED: { status: 403, description: 'The requested state cannot be reached from the current one; `req_state` and `cur_state` say which.' },
  STORAGE_CANNOT_GROW: { status: 422, description: 'Images only grow, and only raw ones: `size_mb` must be larger than the current size, and ISO images keep theirs.' },
  HOST_LIMIT_EXCEEDED: { status: 422, description: 'CPU count, memory or display size is outside what the hypervisor allows on this host, or an image is larger than the filesystem takes.' },
  UNSUPPORTED_ON_HOST: { status: 422, description: 'The hypervisor driver on this host cannot do that (macOS guests, screenshots, Rosetta …).' },
  PORT_FORWARD_NEEDS_NAT: { status: 422, description: '`port_forwards` go through a NAT NIC: the VM needs one among its `nics`.' },
  INVALID_VM_CONFIG: { status: 422, description: 'The hypervisor refused the VM definition; the message says why.' },
  QUOTA_EXCEEDED: {
    status: 422,
    description:
      'The change would take a group past one of its limits (/u/group/quota); nothing was changed. `gid` names the group, `quota` the limit (vms, vcpus, memory, storage), `limit` its value, `used` the group\'s current use and `requested` what the request adds.',
  },
  HYPERVISOR_FAILURE: { status: 500, description: 'The hypervisor failed during the state transition; `state` is the VM\'s true state afterwards.' },
  HOST_STORAGE_FULL: { status: 507, description: 'The host\'s filesystem has no space left (or the quota is reached) for the image; nothing was kept. Free space or ask the operator.' },
  INTERNAL_ERROR: { status: 500, description: 'An unexpected failure; details are in the server log under the request id.' },
  EVENT_STREAM_BEHIND: {
    status: 503,
    description:
      'Only as the `code` of an event stream\'s `end` event: the client read so slowly that more events than VELOCITY_EVENT_BACKLOG waited for it; reconnect with Last-Event-ID.',
  },
  NODE_OFFLINE: {
    status: 503,
    description:
      'The node the request needs has not sent a heartbeat recently: the node of the VM (state, console, screenshot, changes), or the node a new VM is to run on (given, or the one holding its images). Nothing was done and nothing is guessed; `node` names it. Retry once it is back.',
  },
  VM_ON_OTHER_NODE: {
    status: 409,
    description: 'The VM moved to another node while the request was on its way to this one; nothing was done. `node` names where it runs now: send the request again.',
  },
  NODE_UNREACHABLE: { status: 502, description: 'The node of the cluster that owns the VM could not be reached to carry out the request; `node` names it.' },
  SERVICE_UNAVAILABLE: { status: 503, description: 'A dependency (the database) is not reachable.' },
} as const satisfies Record<string, { status: number; description: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

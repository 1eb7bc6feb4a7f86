import { Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { CatalogAuthorizer } from '../../catalogs/permissions/catalog-authorizer';
import { ApiError } from '../../common/errors/api-error';
import { LiveStreams } from '../../common/live-streams';
import { AppConfig } from '../../config/app-config';
import { AuthenticatedUser } from '../../identity/auth/authenticated-user';
import { AuthkeyCredential } from '../../identity/auth/authenticated.decorator';
import { AuthkeysService } from '../../identity/auth/authkeys.service';
import { VM_BY_VMID } from '../vm-references';
import { CatalogViews, VIEW_CATALOG } from './catalog-views';
import { EVENT_ID_PATTERN } from './dto/vm-events-query.dto';
import { VmEventStream } from './vm-event-stream';
import { VmEvents } from './vm-events.service';

export interface EventStreamRequest {
  user: AuthenticatedUser;
  credential: AuthkeyCredential;
  cid?: string;
  vmid?: string;
  /** From the Last-Event-ID header or the last_event_id query parameter, unchecked. */
  lastEventId?: string;
}

/**
 * Opens `GET /v/events` streams: checks the filters (the same authorizer and answers as the
 * HTTP guard: 400, 404, 401 for a catalog visible without `view`), registers the stream with
 * LiveStreams so it is re-checked whenever identities, memberships, shares or catalogs change
 * (a stream filtered to a catalog ends when `view` on it goes; any stream ends with its
 * authkey), and ends every stream when the server shuts down, since closing the HTTP server
 * waits for open responses.
 */
@Injectable()
export class VmEventStreams implements OnModuleInit, OnModuleDestroy {
  private readonly open = new Set<VmEventStream>();

  constructor(
    private readonly events: VmEvents,
    private readonly authorizer: CatalogAuthorizer,
    private readonly authkeys: AuthkeysService,
    private readonly liveStreams: LiveStreams,
    private readonly config: AppConfig,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  onModuleInit(): void {
    this.adapterHost.httpAdapter.getInstance<FastifyInstance>().addHook('preClose', async () => this.endAll());
  }

  onModuleDestroy(): void {
    this.endAll();
  }

  get openCount(): number {
    return this.open.size;
  }

  /** Answers the request with an event stream, or throws the ApiError that refuses it (before anything is sent). */
  async serve(request: EventStreamRequest, reply: FastifyReply): Promise<void> {
    const lastId = parseEventId(request.lastEventId);
    const scope = await this.scopeOf(request);
    const views = new CatalogViews(request.user, this.authorizer);
    const { keyHash } = request.credential;
    const live = await this.liveStreams.open(request.credential, async () => {
      const session = await this.authkeys.resolveHashed(keyHash);
      if (!session) throw new ApiError('AUTH_REQUIRED', 'The authkey is no longer valid');
      views.renew(session.user);
      if (scope) await this.authorizer.authorize(session.user, VIEW_CATALOG, scope);
      return scope ?? null;
    });

    // From here on the response is ours: no serialization, compression or buffering by Fastify.
    reply.hijack();
    const response = reply.raw;
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // nginx passes the stream through unbuffered whatever its proxy_buffering says.
      'x-accel-buffering': 'no',
      'x-request-id': String(reply.request.id),
    });
    // A first line at once, so clients and proxies see the stream open before any event.
    response.write(': velocity events\n\n');
    const options = { vmid: request.vmid, cid: scope, maxUnsent: this.config.eventBacklog, heartbeatMs: this.config.eventHeartbeatSeconds * 1000 };
    const stream = new VmEventStream(response, live, views, options, () => this.open.delete(stream));
    this.open.add(stream);
    stream.start(this.events, lastId);
  }

  /** The catalog a filter confines the stream to, checked as the HTTP guard would; undefined for none. */
  private async scopeOf({ user, cid, vmid }: EventStreamRequest): Promise<string | undefined> {
    if (vmid) {
      const access = await this.authorizer.authorize(user, { permission: 'view', reference: VM_BY_VMID }, vmid);
      if (cid && access.cid !== cid) throw new ApiError('VM_NOT_FOUND', `vmid ${vmid} is not a VM of catalog ${cid}`);
      return access.cid;
    }
    if (cid) await this.authorizer.authorize(user, VIEW_CATALOG, cid);
    return cid;
  }

  private endAll(): void {
    for (const stream of [...this.open]) stream.finish('SERVICE_UNAVAILABLE');
  }
}

function parseEventId(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const id = Number(value.trim());
  if (!EVENT_ID_PATTERN.test(value.trim()) || !Number.isSafeInteger(id)) {
    throw new ApiError('VALIDATION_FAILED', 'Invalid request: Last-Event-ID must be an event id (a whole number)');
  }
  return id;
}

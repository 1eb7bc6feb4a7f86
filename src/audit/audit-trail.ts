import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { OpenAPIObject } from '@nestjs/swagger';
import proxyAddr from '@fastify/proxy-addr';
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { AsyncResource } from 'node:async_hooks';
import { Clock } from '../common/clock';
import { mapError } from '../common/errors/error-body';
import { forwardedClientAddress } from '../common/http/forwarded-by-node';
import { proxyTrust, ProxyTrust } from '../common/http/proxy-trust';
import { requestIdFor } from '../common/http/request-id';
import { AppConfig } from '../config/app-config';
import { UnitOfWork } from '../database/unit-of-work';
import { AuthenticatedUser } from '../identity/auth/authenticated-user';
import { AuditEntry, AuditOutcome, collectTargets, RecordedOutcome } from './audit-entry';
import { AuditRepository } from './audit.repository';
import { AuditSink, RequestAudit, wasRefusedByAuthorization } from './request-audit';

/** The methods of requests that change something: each is recorded whatever its outcome. */
const CHANGING_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Writes per transaction when the queue is long. */
const WRITES_PER_TRANSACTION = 500;
/** Longest path kept in a record. */
const MAX_PATH = 256;
/** The status of a request whose client left before the answer (nginx's "client closed request"). */
const CLIENT_CLOSED = 499;

/** An API route as the OpenAPI document names it, with the status its success has. */
interface Operation {
  operationId: string;
  successStatus: number;
}

/** What the record of a request needs of it besides the request itself. */
interface RequestFacts {
  at: number;
  operation: Operation | undefined;
}

/** A record to write, or a correction of one: the outcome it should have (null: unchanged) and the targets to add. */
type QueuedWrite = { entry: AuditEntry } | { correct: number; outcome: RecordedOutcome | null; addedTargets: string[] };

/** The token a request was authenticated with (`user.token.id` once API tokens exist); never its secret. */
function tokenIdOf(user: AuthenticatedUser): string | null {
  return (user as AuthenticatedUser & { readonly token?: { readonly id?: string } }).token?.id ?? null;
}

/** The path without what the router reads as the query. */
function pathOf(url: string): string {
  const end = url.search(/[?#]/);
  return (end === -1 ? url : url.slice(0, end)).slice(0, MAX_PATH);
}

/**
 * Records what the audit log holds (see the README's "Audit log"): every request to a route
 * with a changing method, whatever its outcome; every request answered 401 or 403, and 404s
 * of the catalog-permission check; every refused WebSocket upgrade. A request that reads and
 * succeeds costs two map lookups and writes nothing.
 *
 * Records that no transaction carried are queued and written in batches, one transaction per
 * event-loop turn at most, outside any request's transaction.
 */
@Injectable()
export class AuditTrail implements AuditSink, OnModuleDestroy {
  private readonly logger = new Logger('Audit');
  private readonly trust: ProxyTrust;
  private readonly audits = new WeakMap<FastifyRequest, RequestAudit>();
  /** The context a request's handler runs in, re-entered after the body was read. */
  private readonly scopes = new WeakMap<FastifyRequest, AsyncResource>();
  private readonly replies = new WeakMap<FastifyRequest, { errorCode: string | null; targets: string[] }>();
  /** Filled by install(). */
  private operations = new Map<string, Operation>();
  private queue: QueuedWrite[] = [];
  private scheduled = false;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly repository: AuditRepository,
    private readonly unitOfWork: UnitOfWork,
    private readonly clock: Clock,
    config: AppConfig,
  ) {
    this.trust = proxyTrust(config.trustProxy);
  }

  /** Adds the hooks that record requests; the operations come from the application's OpenAPI document. */
  install(fastify: FastifyInstance, document: OpenAPIObject, basePath: string): void {
    this.operations = operationsOf(document, basePath);
    const operationOf = (request: FastifyRequest) => {
      const route = request.routeOptions.url;
      return route === undefined ? undefined : this.operations.get(`${request.method} ${route}`);
    };
    fastify.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
      if (!CHANGING_METHODS.has(request.method)) return done();
      const operation = operationOf(request);
      if (!operation) return done(); // no such route: nothing can change
      const facts: RequestFacts = { at: this.clock.nowMillis(), operation };
      const audit = new RequestAudit((outcome, created) => this.entryOf(request, facts, outcome, created), this);
      this.audits.set(request, audit);
      // The client may leave before the answer, and then Fastify never runs onResponse.
      reply.raw.once('close', () => audit.finish(this.outcomeOf(request, reply.raw.writableFinished ? reply.statusCode : CLIENT_CLOSED)));
      RequestAudit.enter(audit, () => {
        this.scopes.set(request, new AsyncResource('velocity:audit'));
        done();
      });
    });
    // Reading the body runs in the socket's context, not the request's: back into it.
    fastify.addHook('preValidation', (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) => {
      const scope = this.scopes.get(request);
      return scope ? scope.runInAsyncScope(done) : done();
    });
    fastify.addHook('onSend', (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (error: null, payload: unknown) => void) => {
      if (this.audits.has(request) || this.isRefusal(request, reply.statusCode)) this.replies.set(request, readReply(payload, reply.statusCode));
      done(null, payload);
    });
    fastify.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
      const audit = this.audits.get(request);
      if (audit) {
        audit.finish(this.outcomeOf(request, reply.statusCode));
      } else if (this.isRefusal(request, reply.statusCode)) {
        const facts = { at: this.clock.nowMillis() - Math.round(reply.elapsedTime), operation: operationOf(request) };
        this.enqueue(this.entryOf(request, facts, this.outcomeOf(request, reply.statusCode)));
      }
      done();
    });
  }

  /**
   * Records a WebSocket upgrade answered with `error` instead of 101, by `caller` (whom its
   * authkey names, if anyone). Reads the request at once: its socket is about to close.
   */
  recordRefusedUpgrade(request: IncomingMessage, error: unknown, caller: Promise<AuthenticatedUser | null>): Promise<void> {
    const { status, body } = mapError(error);
    const url = new URL(request.url ?? '/', 'http://localhost');
    const method = request.method ?? 'GET';
    const entry = {
      at: this.clock.nowMillis(),
      address: request.socket.remoteAddress === undefined ? null : proxyAddr(request, this.trust),
      operation: this.operations.get(`${method} ${url.pathname}`)?.operationId ?? null,
      method,
      path: url.pathname.slice(0, MAX_PATH),
      status,
      errorCode: body.code,
      requestId: requestIdFor(this.trust)(request),
      targets: [...collectTargets(new Set(), Object.fromEntries(url.searchParams))],
    };
    return caller.then((user) => this.enqueue({ ...entry, ...this.who(user, null) }));
  }

  enqueue(entry: AuditEntry): void {
    this.queue.push({ entry });
    this.schedule();
  }

  enqueueCorrection(id: number, outcome: RecordedOutcome | null, addedTargets: string[]): void {
    this.queue.push({ correct: id, outcome, addedTargets });
    this.schedule();
  }

  /** Resolves once every record of a request answered so far is in the database. */
  async drain(): Promise<void> {
    // Requests answered just now settle in their onResponse or 'close' callbacks.
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (this.queue.length) this.write();
    await this.writing;
  }

  async onModuleDestroy(): Promise<void> {
    await this.drain();
  }

  private isRefusal(request: FastifyRequest, status: number): boolean {
    return status === 401 || status === 403 || (status === 404 && wasRefusedByAuthorization(request));
  }

  private outcomeOf(request: FastifyRequest, status: number): AuditOutcome {
    const reply = this.replies.get(request);
    return { status, errorCode: status >= 400 ? (reply?.errorCode ?? null) : null, replyTargets: reply?.targets ?? [] };
  }

  /** The record of `request`: with the predicted outcome (its route's success) until `outcome` is known. */
  private entryOf(request: FastifyRequest, facts: RequestFacts, outcome?: AuditOutcome, created: readonly string[] = []): AuditEntry {
    const { operation } = facts;
    const user = (request as FastifyRequest & { user?: AuthenticatedUser }).user ?? null;
    const targets = collectTargets(new Set(), request.body, request.query);
    for (const target of [...created, ...(outcome?.replyTargets ?? [])]) targets.add(target);
    // A login names its user only by the name it tries (never by the password).
    const attempted = operation?.operationId === 'login' ? (request.body as { username?: unknown } | undefined)?.username : undefined;
    return {
      at: facts.at,
      ...this.who(user, typeof attempted === 'string' ? attempted.slice(0, 64) : null),
      address: forwardedClientAddress(request) ?? request.ip ?? null,
      operation: operation?.operationId ?? null,
      method: request.method,
      path: pathOf(request.url),
      status: outcome?.status ?? operation?.successStatus ?? 200,
      errorCode: outcome?.errorCode ?? null,
      requestId: request.id,
      targets: [...targets],
    };
  }

  private who(user: AuthenticatedUser | null, attemptedUsername: string | null): Pick<AuditEntry, 'uid' | 'username' | 'tokenId'> {
    return user ? { uid: user.uid, username: user.username, tokenId: tokenIdOf(user) } : { uid: null, username: attemptedUsername, tokenId: null };
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.write());
  }

  /** Starts writing what is queued, after what is being written. */
  private write(): void {
    this.scheduled = false;
    const writes = this.queue;
    this.queue = [];
    this.writing = this.writing.then(async () => {
      for (let i = 0; i < writes.length; i += WRITES_PER_TRANSACTION) {
        const batch = writes.slice(i, i + WRITES_PER_TRANSACTION);
        await this.unitOfWork
          .run(async (manager) => {
            for (const write of batch) {
              if ('correct' in write) await this.repository.correct(manager, write.correct, write.outcome, write.addedTargets);
              else await this.repository.insert(manager, write.entry);
            }
          })
          .catch((error: Error) => this.logger.error(`${batch.length} audit record(s) could not be written: ${error.message}`));
      }
    });
  }
}

/** The error code and the ids of an answer, read from its JSON body. */
function readReply(payload: unknown, status: number): { errorCode: string | null; targets: string[] } {
  if (typeof payload !== 'string' || !payload.startsWith('{')) return { errorCode: null, targets: [] };
  let body: unknown;
  try {
    body = JSON.parse(payload);
  } catch {
    return { errorCode: null, targets: [] };
  }
  const code = (body as { code?: unknown }).code;
  return { errorCode: status >= 400 && typeof code === 'string' ? code : null, targets: [...collectTargets(new Set(), body)] };
}

/** `METHOD route` (as Fastify names the route, base path included) → its operation. */
function operationsOf(document: OpenAPIObject, basePath: string): Map<string, Operation> {
  const operations = new Map<string, Operation>();
  for (const [path, item] of Object.entries(document.paths)) {
    const route = basePath + path.replace(/\{([^}]+)\}/g, ':$1');
    for (const [method, operation] of Object.entries(item as Record<string, { operationId?: string; responses?: Record<string, unknown> }>)) {
      if (!operation?.operationId) continue;
      const success = Object.keys(operation.responses ?? {}).find((status) => /^2\d\d$/.test(status));
      operations.set(`${method.toUpperCase()} ${route}`, { operationId: operation.operationId, successStatus: success ? Number(success) : 200 });
    }
  }
  return operations;
}

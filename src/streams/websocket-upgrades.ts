import { Injectable, Logger, OnModuleDestroy, OnModuleInit, Optional } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { AuditTrail } from '../audit/audit-trail';
import { CatalogPermissionRequirement } from '../catalogs/permissions/catalog-authorizer';
import { ApiError, shuttingDown } from '../common/errors/api-error';
import { mapError } from '../common/errors/error-body';
import { rawErrorResponse } from '../common/http/raw-error-response';
import { LiveStream } from '../common/live-streams';
import { NodeForwarder } from '../cluster/forwarding/node-forwarder';
import { OwningNodes } from '../cluster/forwarding/owning-nodes';
import { AppConfig } from '../config/app-config';
import { extractAuthkey } from '../identity/auth/authkey-extractor';
import { StreamAuthorizer } from './stream-authorizer';

/** A WebSocket endpoint, registered by its gateway. */
export interface WebSocketRoute<Prepared = undefined> {
  /** Below the base path, matched exactly (no trailing slash, no prefix match). */
  path: string;
  /** What the caller needs; the id comes from the query parameter the reference names. */
  requirement: CatalogPermissionRequirement;
  /** Largest message accepted, in bytes. */
  maxPayload: number;
  /** The subprotocol the socket speaks, chosen when the client offers it; without it, the first one offered. */
  subprotocol?: string;
  /**
   * Acquires what the socket will serve once the caller is authorized and before the 101, so
   * a socket that cannot be served is refused like any upgrade (`{code, message}`, no socket);
   * `discard` lets go of it when the handshake then does not complete.
   */
  prepare?: { open(id: string): Promise<Prepared>; discard(prepared: Prepared): void };
  /**
   * Takes over an accepted socket; `id` is the checked id from the query, `prepared` what
   * `prepare` acquired. The router closes the socket when `stream` ends; the gateway acts on
   * what the client sends only while `stream.allowed()`.
   */
  connect(ws: WebSocket, id: string, stream: LiveStream, prepared: Prepared): void;
  /** The id names a VM whose own node must serve the socket (in a cluster, others forward it there). */
  onVmNode?: boolean;
}

/** An authorized upgrade whose route has what it needs: how it takes over the socket, or lets go. */
interface Admission {
  connect(ws: WebSocket): void;
  abandon(): void;
}

interface Endpoint {
  requirement: CatalogPermissionRequirement;
  onVmNode: boolean;
  server: WebSocketServer;
  admit(id: string, stream: LiveStream): Promise<Admission>;
}

/**
 * The one owner of the HTTP server's `upgrade` event. Every upgrade is answered: a registered
 * path whose caller presents a valid authkey (Bearer header or `?authkey=`, since browsers
 * cannot set headers on a WebSocket) and passes the same CatalogAuthorizer as the HTTP guard
 * gets 101; anything else gets the usual `{code, message}` error and its socket destroyed.
 * An upgrade still unanswered after VELOCITY_UPGRADE_TIMEOUT is destroyed, so no socket the
 * HTTP server hands over can outlive its client. An open socket is closed with 4401/4403 as
 * soon as its caller's right to it ends (LiveStreams), and with 1001 when the server shuts down.
 */
@Injectable()
export class WebSocketUpgrades implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('WebSocket');
  private readonly endpoints = new Map<string, Endpoint>();
  /** Every socket taken from the HTTP server and not yet closed, so shutdown can end them. */
  private readonly sockets = new Set<Duplex>();
  private readonly listener = (request: IncomingMessage, socket: Duplex, head: Buffer) => void this.upgrade(request, socket, head);
  /** Set when the HTTP server starts closing. */
  private closing = false;

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly streams: StreamAuthorizer,
    private readonly config: AppConfig,
    private readonly audit: AuditTrail,
    // Present in a cluster only (ForwardingModule).
    @Optional() private readonly forwarder?: NodeForwarder,
    @Optional() private readonly owners?: OwningNodes,
  ) {}

  onModuleInit(): void {
    const { httpAdapter } = this.adapterHost;
    httpAdapter.getHttpServer().on('upgrade', this.listener);
    // Closing the server waits for every connection, upgraded ones too: they must go first.
    httpAdapter.getInstance<FastifyInstance>().addHook('preClose', async () => this.goAway());
  }

  onModuleDestroy(): void {
    this.adapterHost.httpAdapter.getHttpServer().off('upgrade', this.listener);
    for (const socket of this.sockets) socket.destroy();
  }

  /** Serves `route`; a gateway calls this from its onModuleInit and the returned function from its onModuleDestroy. */
  register<Prepared>(route: WebSocketRoute<Prepared>): () => void {
    const path = `${this.config.basePath}${route.path}`;
    const { subprotocol, prepare } = route;
    const server = new WebSocketServer({
      noServer: true,
      maxPayload: route.maxPayload,
      ...(subprotocol ? { handleProtocols: (offered: Set<string>) => (offered.has(subprotocol) ? subprotocol : false) } : {}),
    });
    // A malformed handshake (no Sec-WebSocket-Key, say) is refused in the API's error shape.
    server.on('wsClientError', (error: Error, socket: Duplex) => this.refuse(socket, new ApiError('REQUEST_REJECTED', `Not a valid WebSocket upgrade: ${error.message}`)));
    const admit = async (id: string, stream: LiveStream): Promise<Admission> => {
      // A route without `prepare` has nothing to hand over: Prepared is undefined there.
      const prepared = prepare ? await prepare.open(id) : (undefined as Prepared);
      return { connect: (ws) => route.connect(ws, id, stream, prepared), abandon: () => prepare?.discard(prepared) };
    };
    this.endpoints.set(path, { requirement: route.requirement, onVmNode: route.onVmNode ?? false, server, admit });
    return () => {
      this.endpoints.delete(path);
      for (const client of server.clients) client.terminate();
      server.close();
    };
  }

  private async upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    this.sockets.add(socket);
    // After an upgrade the HTTP server no longer listens for socket errors: a client's reset must not crash the process.
    socket.on('error', () => socket.destroy());
    const deadline = setTimeout(() => socket.destroy(), this.config.upgradeTimeoutSeconds * 1000);
    socket.once('close', () => {
      clearTimeout(deadline);
      this.sockets.delete(socket);
    });
    try {
      this.assertAccepting();
      const url = new URL(request.url ?? '/', 'http://localhost');
      const endpoint = this.endpoints.get(url.pathname);
      if (!endpoint) throw new ApiError('NOT_FOUND', `There is no WebSocket endpoint at ${url.pathname}`);
      const query = Object.fromEntries(url.searchParams);
      const { requirement, server } = endpoint;
      const id = query[requirement.reference.field];
      const stream = await this.streams.open(extractAuthkey({ headers: request.headers, query }), requirement, id);
      if (endpoint.onVmNode && (await this.forwardToOwner(request, socket, head, id, stream))) {
        clearTimeout(deadline);
        return;
      }
      const admission = await endpoint.admit(id, stream).catch((error: unknown) => {
        stream.release();
        throw error;
      });
      const release = () => {
        stream.release();
        admission.abandon();
      };
      if (socket.destroyed || this.closing) {
        release();
        this.assertAccepting();
        return; // the client left, or the deadline passed, meanwhile
      }
      // A refused handshake, or a client leaving before it completes, releases the stream too.
      socket.once('close', release);
      server.handleUpgrade(request, socket, head, (ws) => {
        clearTimeout(deadline);
        socket.off('close', release);
        ws.once('close', () => stream.release());
        stream.onEnd(({ code, reason }) => ws.close(code, reason));
        admission.connect(ws);
      });
    } catch (error) {
      this.recordRefusal(request, error);
      this.refuse(socket, error);
    }
  }

  /**
   * In a cluster, hands the socket of a VM another node runs to that node (authorized here
   * first; the owner checks again and holds the live stream from then on). True when handed over.
   */
  private async forwardToOwner(request: IncomingMessage, socket: Duplex, head: Buffer, vmid: string, stream: LiveStream): Promise<boolean> {
    if (!this.forwarder || !this.owners || this.forwarder.isFromNode(request.headers)) return false;
    const node = await this.owners.ofVm(vmid).catch((error: unknown) => {
      stream.release();
      throw error;
    });
    if (!node) return false;
    stream.release();
    this.forwarder.assertOnline(node, `VM ${vmid}`);
    await this.forwarder.forwardUpgrade(request, socket, head, node);
    return true;
  }

  /** Puts a refused upgrade in the audit log, with whom its authkey names; never fails the refusal itself. */
  private recordRefusal(request: IncomingMessage, error: unknown): void {
    try {
      const query = Object.fromEntries(new URL(request.url ?? '/', 'http://localhost').searchParams);
      const caller = this.streams.identify(extractAuthkey({ headers: request.headers, query })).catch(() => null);
      void this.audit.recordRefusedUpgrade(request, error, caller);
    } catch (failure) {
      this.logger.warn(`a refused upgrade could not be audited: ${(failure as Error).message}`);
    }
  }

  /** Refuses new sockets once the server is shutting down, and closes the open ones (1001 Going Away). */
  private goAway(): void {
    this.closing = true;
    for (const { server } of this.endpoints.values()) {
      for (const client of server.clients) client.close(1001, 'SERVICE_UNAVAILABLE');
    }
  }

  private assertAccepting(): void {
    if (this.closing) throw shuttingDown();
  }

  /** Answers an upgrade with the error's status and `{code, message}` body, then destroys the socket. */
  private refuse(socket: Duplex, error: unknown): void {
    const { status, body, unexpected } = mapError(error);
    if (unexpected) this.logger.error(`upgrade failed: ${(error as Error)?.stack ?? String(error)}`);
    if (socket.destroyed) return;
    socket.once('finish', () => socket.destroy());
    socket.end(rawErrorResponse(status, body));
  }
}

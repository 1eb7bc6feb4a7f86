import { Injectable, OnModuleDestroy } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Agent, IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';
import { ApiError } from '../../common/errors/api-error';
import { AppConfig } from '../../config/app-config';
import { NodeCredential } from './node-credential.service';

/** The node that owns what a request is about, when it is not this one. */
export interface RemoteNode {
  name: string;
  url: string;
  online: boolean;
}

/** The request headers a forwarded request keeps; the rest are the hop's own (connection, host, …). */
const PASSED_REQUEST_HEADERS = ['authorization', 'accept', 'last-event-id', 'user-agent'];
/** The response headers the client gets back; hop-by-hop ones are left out. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer', 'content-length']);

/** Marks a request a node forwarded: the credential, the node it came through and the client's address. */
export const NODE_CREDENTIAL_HEADER = 'x-velocity-node-credential';
export const FORWARDED_BY_HEADER = 'x-velocity-forwarded-by';
export const CLIENT_ADDRESS_HEADER = 'x-velocity-client-address';

/**
 * Carries a request to the node that owns its VM and the answer back, streams included: the
 * owner authorizes it again against the shared database and records it in its own audit log
 * (with the client's address and request id this node passes along), so this node only moves
 * bytes. The node-to-node credential tells the owner that the request comes from a node.
 */
@Injectable()
export class NodeForwarder implements OnModuleDestroy {
  private readonly httpAgent = new Agent({ keepAlive: true });
  private readonly httpsAgent = new HttpsAgent({ keepAlive: true });

  constructor(
    private readonly credential: NodeCredential,
    private readonly config: AppConfig,
  ) {}

  onModuleDestroy(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  /** True for a request another node forwarded (it carries the cluster's credential). */
  isFromNode(headers: IncomingHttpHeaders): boolean {
    return this.credential.accepts(headers[NODE_CREDENTIAL_HEADER]);
  }

  /** 503 NODE_OFFLINE for a node that stopped heart-beating: its VMs' state is not guessed. */
  assertOnline(node: RemoteNode, what: string): void {
    if (!node.online) {
      throw new ApiError('NODE_OFFLINE', `${what} is on node ${node.name}, which is not answering its heartbeat; retry once it is back`, { node: node.name }, 10);
    }
  }

  /**
   * Sends `request` to `node` and answers `reply` with the node's status, headers and body,
   * streamed. The routes forwarded take JSON: a body was parsed here and is sent as JSON again.
   */
  async forward(request: FastifyRequest, reply: FastifyReply, node: RemoteNode): Promise<void> {
    const body = request.body === undefined || request.body === null ? undefined : Buffer.from(JSON.stringify(request.body));
    const headers = this.headersFor(request.headers, request.ip, request.id);
    if (body) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = body.length;
    }
    const answer = await new Promise<IncomingMessage>((resolve, reject) => {
      const outgoing = this.open(node, request.url, request.method, headers);
      outgoing.once('response', resolve);
      outgoing.once('error', (error) => reject(unreachable(node, error)));
      outgoing.end(body);
    });
    void reply.code(answer.statusCode ?? 502);
    for (const [name, value] of Object.entries(answer.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) void reply.header(name, value);
    }
    // Leaving first, the client takes the node's answer with it.
    reply.raw.once('close', () => answer.destroy());
    await reply.send(answer);
  }

  /**
   * Hands a WebSocket upgrade (already authorized here) to `node` and, once the node has
   * answered, joins the two sockets byte for byte: the handshake, the frames and the close are
   * the node's own, so the client talks to the owner as if directly.
   */
  forwardUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer, node: RemoteNode): Promise<void> {
    const headers = this.headersFor(request.headers, request.socket.remoteAddress, undefined);
    for (const name of ['connection', 'upgrade', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-protocol', 'sec-websocket-extensions', 'origin']) {
      const value = request.headers[name];
      if (value !== undefined) headers[name] = value;
    }
    return new Promise((resolve, reject) => {
      const outgoing = this.open(node, request.url ?? '/', 'GET', headers, false);
      outgoing.once('error', (error) => reject(unreachable(node, error)));
      outgoing.once('upgrade', (answer: IncomingMessage, upstream: Duplex, upstreamHead: Buffer) => {
        socket.write(statusBlock(answer));
        if (upstreamHead.length) socket.write(upstreamHead);
        if (head.length) upstream.write(head);
        upstream.on('error', () => socket.destroy());
        upstream.once('close', () => socket.destroy());
        socket.once('close', () => upstream.destroy());
        upstream.pipe(socket);
        socket.pipe(upstream);
        resolve();
      });
      // The owner refused the upgrade: its `{code, message}` answer goes to the client as it is.
      outgoing.once('response', (answer: IncomingMessage) => {
        socket.write(statusBlock(answer));
        answer.pipe(socket);
        answer.once('end', () => socket.end());
        resolve();
      });
      outgoing.end();
    });
  }

  private headersFor(incoming: IncomingHttpHeaders, clientAddress: string | undefined, requestId: string | undefined): OutgoingHttpHeaders {
    const headers: OutgoingHttpHeaders = {};
    for (const name of PASSED_REQUEST_HEADERS) {
      const value = incoming[name];
      if (value !== undefined) headers[name] = value;
    }
    headers[NODE_CREDENTIAL_HEADER] = this.credential.secret;
    headers[FORWARDED_BY_HEADER] = this.config.nodeName;
    if (clientAddress) headers[CLIENT_ADDRESS_HEADER] = clientAddress;
    if (requestId) headers['x-request-id'] = requestId;
    return headers;
  }

  private open(node: RemoteNode, path: string, method: string, headers: OutgoingHttpHeaders, keepAlive = true) {
    const base = new URL(node.url);
    const secure = base.protocol === 'https:';
    const options = {
      hostname: base.hostname.replace(/^\[|\]$/g, ''),
      port: base.port || (secure ? 443 : 80),
      path,
      method,
      headers,
      agent: keepAlive ? (secure ? this.httpsAgent : this.httpAgent) : false,
    };
    return secure ? httpsRequest(options) : httpRequest(options);
  }
}

function unreachable(node: RemoteNode, error: Error): ApiError {
  return new ApiError('NODE_UNREACHABLE', `Node ${node.name} (${node.url}) could not be reached: ${error.message}`, { node: node.name }, 5);
}

/** The status line and headers of `answer`, as the client's socket must receive them. */
function statusBlock(answer: IncomingMessage): string {
  const lines = [`HTTP/1.1 ${answer.statusCode} ${answer.statusMessage ?? ''}`];
  for (let i = 0; i < answer.rawHeaders.length; i += 2) lines.push(`${answer.rawHeaders[i]}: ${answer.rawHeaders[i + 1]}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

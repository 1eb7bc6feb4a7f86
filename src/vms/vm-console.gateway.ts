import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { CatalogAuthorizer } from '../catalogs/permissions/catalog-authorizer';
import { ApiError } from '../common/errors/api-error';
import { mapError } from '../common/errors/error-body';
import { AppConfig } from '../config/app-config';
import { AuthkeysService } from '../identity/auth/authkeys.service';
import { VM_BY_VMID } from './vm-references';
import { VmConsoleService } from './vm-console.service';

export const CONSOLE_STREAM_PATH = '/v/console/stream';

/**
 * The live two-way serial console: a WebSocket at `/v/console/stream?vmid=…`. The authkey
 * comes as `Authorization: Bearer` or `?authkey=` (browsers cannot set headers on a
 * WebSocket). The upgrade is checked with the same authorizer as the HTTP guard (`interact`);
 * a refused upgrade gets the usual `{code, message}` body. Output is sent as binary frames
 * (recent output first); every frame received is typed on the console.
 */
@Injectable()
export class VmConsoleGateway implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('Console');
  private readonly server = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  private readonly path: string;
  private readonly listener = (request: IncomingMessage, socket: Duplex, head: Buffer) => void this.upgrade(request, socket, head);

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly authkeys: AuthkeysService,
    private readonly authorizer: CatalogAuthorizer,
    private readonly console: VmConsoleService,
    config: AppConfig,
  ) {
    this.path = `${config.basePath}${CONSOLE_STREAM_PATH}`;
  }

  onModuleInit(): void {
    this.adapterHost.httpAdapter.getHttpServer().on('upgrade', this.listener);
  }

  onModuleDestroy(): void {
    this.adapterHost.httpAdapter.getHttpServer().off('upgrade', this.listener);
    for (const client of this.server.clients) client.terminate();
    this.server.close();
  }

  private async upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (url.pathname !== this.path) return; // not ours; other listeners may take it
    try {
      const header = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
      const key = header ?? url.searchParams.get('authkey') ?? '';
      const user = key ? await this.authkeys.resolve(key) : null;
      if (!user) throw new ApiError('AUTH_REQUIRED', 'A valid authkey is required (missing, unknown or expired)');
      const vmid = url.searchParams.get('vmid');
      await this.authorizer.authorize(user, { permission: 'interact', reference: VM_BY_VMID }, vmid);
      this.server.handleUpgrade(request, socket, head, (ws) => void this.attach(ws, vmid!));
    } catch (error) {
      const { status, body } = mapError(error);
      const text = JSON.stringify(body);
      socket.end(
        `HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : 'Error'}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
      );
    }
  }

  private async attach(ws: WebSocket, vmid: string): Promise<void> {
    let stop: (() => void) | undefined;
    // Listen before the first await: a client that closes at once must not leave a follower behind.
    ws.on('close', () => stop?.());
    ws.on('error', (error) => this.logger.warn(`console of VM ${vmid}: ${error.message}`));
    ws.on('message', (data: Buffer) => {
      this.console.write(vmid, Buffer.from(data)).catch((error: Error) => {
        ws.send(JSON.stringify(mapError(error).body));
      });
    });
    const recent = await this.console.tail(vmid, 64 * 1024);
    if (ws.readyState !== WebSocket.OPEN) return;
    if (recent.output.length) ws.send(recent.output);
    stop = this.console.follow(vmid, recent.size, (chunk) => ws.send(chunk));
  }
}

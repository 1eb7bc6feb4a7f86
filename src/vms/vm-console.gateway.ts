import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { WebSocket } from 'ws';
import { mapError } from '../common/errors/error-body';
import { LiveStream } from '../common/live-streams';
import { WebSocketUpgrades } from '../streams/websocket-upgrades';
import { VM_BY_VMID } from './vm-references';
import { VmConsoleService } from './vm-console.service';

export const CONSOLE_STREAM_PATH = '/v/console/stream';

/**
 * The live two-way serial console: a WebSocket at `/v/console/stream?vmid=…` for callers with
 * `interact` on the VM's catalog (WebSocketUpgrades checks that before the socket opens, and
 * closes it with 4401/4403 when that ends). Output is sent as binary frames (recent output
 * first); every frame received is typed on the console while the caller may still interact.
 */
@Injectable()
export class VmConsoleGateway implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('Console');
  private unregister: (() => void) | undefined;

  constructor(
    private readonly upgrades: WebSocketUpgrades,
    private readonly console: VmConsoleService,
  ) {}

  onModuleInit(): void {
    this.unregister = this.upgrades.register({
      path: CONSOLE_STREAM_PATH,
      requirement: { permission: 'interact', reference: VM_BY_VMID },
      onVmNode: true,
      maxPayload: 64 * 1024,
      connect: (ws, vmid, stream) => void this.attach(ws, vmid, stream),
    });
  }

  onModuleDestroy(): void {
    this.unregister?.();
  }

  private async attach(ws: WebSocket, vmid: string, stream: LiveStream): Promise<void> {
    let stop: (() => void) | undefined;
    // Listen before the first await: a client that closes at once must not leave a follower behind.
    ws.on('close', () => stop?.());
    ws.on('error', (error) => this.logger.warn(`console of VM ${vmid}: ${error.message}`));
    ws.on('message', (data: Buffer) => void this.type(ws, vmid, stream, Buffer.from(data)));
    const recent = await this.console.tail(vmid, 64 * 1024);
    if (ws.readyState !== WebSocket.OPEN) return;
    if (recent.output.length) ws.send(recent.output);
    stop = this.console.follow(vmid, recent.size, (chunk) => ws.send(chunk));
  }

  /** Types what the client sent, unless its right to the console has ended meanwhile. */
  private async type(ws: WebSocket, vmid: string, stream: LiveStream, data: Buffer): Promise<void> {
    if (!(await stream.allowed())) return;
    await this.console.write(vmid, data).catch((error: Error) => ws.send(JSON.stringify(mapError(error).body)));
  }
}

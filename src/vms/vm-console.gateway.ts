import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { WebSocket } from 'ws';
import { mapError } from '../common/errors/error-body';
import { WebSocketUpgrades } from '../streams/websocket-upgrades';
import { VM_BY_VMID } from './vm-references';
import { VmConsoleService } from './vm-console.service';

export const CONSOLE_STREAM_PATH = '/v/console/stream';

/**
 * The live two-way serial console: a WebSocket at `/v/console/stream?vmid=…` for callers with
 * `interact` on the VM's catalog (WebSocketUpgrades checks that before the socket opens).
 * Output is sent as binary frames (recent output first); every frame received is typed on
 * the console.
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
      maxPayload: 64 * 1024,
      connect: (ws, vmid) => void this.attach(ws, vmid),
    });
  }

  onModuleDestroy(): void {
    this.unregister?.();
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

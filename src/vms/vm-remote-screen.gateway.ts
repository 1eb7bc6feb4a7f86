import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import { LiveStream } from '../common/live-streams';
import { WebSocketUpgrades } from '../streams/websocket-upgrades';
import { VmDisplayService } from './vm-display.service';
import { VM_BY_VMID } from './vm-references';

export const REMOTE_SCREEN_PATH = '/v/rfb';

/** Reading from the VM's RFB server pauses while more than this waits to be sent to the viewer. */
const MAX_UNSENT_BYTES = 4 * 1024 * 1024;
/** The largest message a viewer may send: RFB's client messages are small but for clipboard text. */
const MAX_VIEWER_MESSAGE_BYTES = 1024 * 1024;

/**
 * The remote screen: a WebSocket at `/v/rfb?vmid=…` (subprotocol `binary`, as noVNC asks) for
 * callers with `interact` on the VM's catalog, carrying the RFB protocol of the VM's first
 * display byte for byte, so any WebSocket VNC client connects to it directly. Each socket
 * gets its own connection to the driver's RFB server, opened before the 101 so that a VM
 * that is not running, or a driver that has no RFB server, is refused like any upgrade. The
 * socket closes when that connection does (the VM stopped) and the other way round.
 */
@Injectable()
export class VmRemoteScreenGateway implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('RemoteScreen');
  private unregister: (() => void) | undefined;

  constructor(
    private readonly upgrades: WebSocketUpgrades,
    private readonly display: VmDisplayService,
  ) {}

  onModuleInit(): void {
    this.unregister = this.upgrades.register<Duplex>({
      path: REMOTE_SCREEN_PATH,
      requirement: { permission: 'interact', reference: VM_BY_VMID },
      onVmNode: true,
      maxPayload: MAX_VIEWER_MESSAGE_BYTES,
      subprotocol: 'binary',
      prepare: { open: (vmid) => this.display.openRemoteScreen(vmid), discard: (screen) => screen.destroy() },
      connect: (ws, vmid, stream, screen) => this.bridge(ws, vmid, stream, screen),
    });
  }

  onModuleDestroy(): void {
    this.unregister?.();
  }

  private bridge(ws: WebSocket, vmid: string, stream: LiveStream, screen: Duplex): void {
    ws.on('error', (error) => this.logger.warn(`remote screen of VM ${vmid}: ${error.message}`));
    screen.on('error', (error) => this.logger.debug(`RFB server of VM ${vmid}: ${error.message}`));
    ws.once('close', () => screen.destroy());
    screen.once('close', () => ws.close(1000));

    // Server to viewer: one binary message per chunk read.
    screen.on('data', (chunk: Buffer) => {
      ws.send(chunk, { binary: true }, () => {
        if (screen.isPaused() && ws.bufferedAmount <= MAX_UNSENT_BYTES) screen.resume();
      });
      if (ws.bufferedAmount > MAX_UNSENT_BYTES) screen.pause();
    });

    // Viewer to server: in order, each message only while the caller may still interact.
    let written = Promise.resolve();
    ws.on('message', (data: Buffer) => {
      written = written.then(async () => {
        if (!(await stream.allowed()) || screen.destroyed) return;
        if (!screen.write(data)) {
          ws.pause();
          await new Promise<void>((resolve) => {
            const done = () => {
              screen.off('drain', done).off('close', done);
              resolve();
            };
            screen.on('drain', done).on('close', done);
          });
          ws.resume();
        }
      });
    });
  }
}

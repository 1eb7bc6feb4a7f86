import assert from 'node:assert/strict';
import { connect } from 'node:net';
import WebSocket from 'ws';

/**
 * A small RFB (RFC 6143) viewer for the tests, over the remote-screen WebSocket (or, to tell
 * the bridge's share from the server's, straight over a VNC server's Unix socket): it does the
 * handshake step by step (so a test can check each step), asks for Raw updates only and
 * reads them whole. Written from the RFC, independent of the server's code.
 */

/** How the viewer reaches the server. */
interface Transport {
  send(data: Buffer): void;
  close(): void;
  readonly open: boolean;
}

export interface ServerInit {
  width: number;
  height: number;
  bitsPerPixel: number;
  depth: number;
  bigEndian: boolean;
  trueColour: boolean;
  shifts: { red: number; green: number; blue: number };
  name: string;
}

export interface RawUpdate {
  rectangles: Array<{ x: number; y: number; width: number; height: number; encoding: number }>;
  /** Bytes of the whole FramebufferUpdate message. */
  bytes: number;
  /** Pixels covered by its rectangles. */
  pixels: number;
}

export interface RfbHandshake {
  version: string;
  securityTypes: number[];
  securityResult: number;
  init: ServerInit;
}

export class RfbTestClient {
  private buffer = Buffer.alloc(0);
  private waiting: (() => void) | undefined;
  /** Every byte received so far, counting those already read. */
  received = 0;
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(
    private readonly transport: Transport,
    listen: (onData: (data: Buffer) => void, onClose: (code: number, reason: string) => void) => void,
  ) {
    let closed: (end: { code: number; reason: string }) => void = () => undefined;
    this.closed = new Promise((resolve) => (closed = resolve));
    listen(
      (data) => {
        this.received += data.length;
        this.buffer = Buffer.concat([this.buffer, data]);
        this.wake();
      },
      (code, reason) => {
        this.wake();
        closed({ code, reason });
      },
    );
  }

  private static overWebSocket(ws: WebSocket): RfbTestClient {
    const transport = { send: (data: Buffer) => ws.send(data), close: () => ws.close(), get open() { return ws.readyState === WebSocket.OPEN; } };
    return new RfbTestClient(transport, (onData, onClose) => {
      ws.on('message', onData);
      ws.once('close', (code, reason) => onClose(code, reason.toString()));
    });
  }

  /** Straight to a VNC server's Unix socket, no WebSocket in between. */
  static direct(path: string): Promise<RfbTestClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(path);
      socket.once('error', reject);
      socket.once('connect', () => {
        const transport = { send: (data: Buffer) => void socket.write(data), close: () => socket.destroy(), get open() { return !socket.destroyed; } };
        resolve(new RfbTestClient(transport, (onData, onClose) => {
          socket.on('data', onData);
          socket.once('close', () => onClose(0, ''));
        }));
      });
    });
  }

  /** Opens the socket (subprotocol `binary`, as noVNC); rejects with the refusal's status and body. */
  static open(url: string, token: string): Promise<RfbTestClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, ['binary'], { headers: { authorization: `Bearer ${token}` } });
      ws.once('open', () => {
        assert.equal(ws.protocol, 'binary', 'the server chose the subprotocol binary');
        resolve(RfbTestClient.overWebSocket(ws));
      });
      ws.on('unexpected-response', (req, res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          req.destroy();
          reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode, body: JSON.parse(Buffer.concat(chunks).toString()) }));
        });
      });
      ws.once('error', reject);
    });
  }

  send(...parts: Buffer[]): void {
    this.transport.send(Buffer.concat(parts));
  }

  /** The next `n` bytes from the server. */
  async read(n: number, timeoutMs = 30_000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.buffer.length < n) {
      if (!this.transport.open) assert.fail(`the socket closed after ${this.received} bytes, while ${n} were awaited`);
      const left = deadline - Date.now();
      if (left <= 0) assert.fail(`timed out waiting for ${n} bytes (have ${this.buffer.length})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiting = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    const out = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(n);
    return out;
  }

  /** Version 3.8, security type None, a shared session; what the server said at each step. */
  async handshake(): Promise<RfbHandshake> {
    const version = (await this.read(12)).toString('latin1');
    this.send(Buffer.from('RFB 003.008\n', 'latin1'));
    const count = (await this.read(1))[0];
    assert.ok(count > 0, 'the server offers security types');
    const securityTypes = [...(await this.read(count))];
    this.send(Buffer.from([1]));
    const securityResult = (await this.read(4)).readUInt32BE(0);
    this.send(Buffer.from([1])); // ClientInit: shared
    const head = await this.read(24);
    const name = (await this.read(head.readUInt32BE(20))).toString('utf8');
    const init: ServerInit = {
      width: head.readUInt16BE(0),
      height: head.readUInt16BE(2),
      bitsPerPixel: head[4],
      depth: head[5],
      bigEndian: head[6] !== 0,
      trueColour: head[7] !== 0,
      shifts: { red: head[14], green: head[15], blue: head[16] },
      name,
    };
    return { version, securityTypes, securityResult, init };
  }

  /** SetEncodings: Raw only. */
  rawOnly(): void {
    const message = Buffer.alloc(8);
    message[0] = 2;
    message.writeUInt16BE(1, 2);
    message.writeInt32BE(0, 4);
    this.send(message);
  }

  requestUpdate(init: ServerInit, incremental = false): void {
    const message = Buffer.alloc(10);
    message[0] = 3;
    message[1] = incremental ? 1 : 0;
    message.writeUInt16BE(init.width, 6);
    message.writeUInt16BE(init.height, 8);
    this.send(message);
  }

  /**
   * The next FramebufferUpdate, Raw rectangles only, with the pixels in `into` (RGB, the
   * frame's size) when given. Other server messages (Bell, cut text) are skipped.
   */
  async readUpdate(init: ServerInit, into?: Buffer): Promise<RawUpdate> {
    for (;;) {
      const type = (await this.read(1))[0];
      if (type === 2) continue; // Bell
      if (type === 3) {
        const head = await this.read(7);
        await this.read(head.readUInt32BE(3));
        continue;
      }
      assert.equal(type, 0, `a FramebufferUpdate (message type ${type})`);
      const count = (await this.read(3)).readUInt16BE(1);
      const update: RawUpdate = { rectangles: [], bytes: 4, pixels: 0 };
      const bytesPerPixel = init.bitsPerPixel / 8;
      for (let i = 0; i < count; i++) {
        const head = await this.read(12);
        const rect = { x: head.readUInt16BE(0), y: head.readUInt16BE(2), width: head.readUInt16BE(4), height: head.readUInt16BE(6), encoding: head.readInt32BE(8) };
        update.rectangles.push(rect);
        update.bytes += 12;
        if (rect.encoding === -223) continue; // DesktopSize carries no pixels
        assert.equal(rect.encoding, 0, 'Raw encoding');
        const pixels = await this.read(rect.width * rect.height * bytesPerPixel);
        update.bytes += pixels.length;
        update.pixels += rect.width * rect.height;
        if (into) copyRgb(init, rect, pixels, into);
      }
      return update;
    }
  }

  close(): void {
    this.transport.close();
  }

  private wake(): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.();
  }
}

/** Raw pixels of a 32-bit true-colour format into an RGB buffer of the frame's size. */
function copyRgb(init: ServerInit, rect: { x: number; y: number; width: number; height: number }, pixels: Buffer, rgb: Buffer): void {
  assert.equal(init.bitsPerPixel, 32, 'the tests read 32-bit pixels');
  for (let y = 0; y < rect.height; y++) {
    for (let x = 0; x < rect.width; x++) {
      const value = init.bigEndian ? pixels.readUInt32BE((y * rect.width + x) * 4) : pixels.readUInt32LE((y * rect.width + x) * 4);
      const o = ((rect.y + y) * init.width + rect.x + x) * 3;
      rgb[o] = (value >>> init.shifts.red) & 255;
      rgb[o + 1] = (value >>> init.shifts.green) & 255;
      rgb[o + 2] = (value >>> init.shifts.blue) & 255;
    }
  }
}

export interface FullFrameFigures {
  updatesPerSecond: number;
  /** Bytes per second from the first request to the last update's last byte. */
  bytesPerSecond: number;
}

/** Asks for `count` full frames one after another (non-incremental, Raw) and times them. */
export async function measureFullFrames(client: RfbTestClient, init: ServerInit, count: number): Promise<FullFrameFigures> {
  let bytes = 0;
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    client.requestUpdate(init);
    const update = await client.readUpdate(init);
    assert.equal(update.pixels, init.width * init.height, 'a full frame');
    bytes += update.bytes;
  }
  const seconds = (performance.now() - start) / 1000;
  return { updatesPerSecond: count / seconds, bytesPerSecond: bytes / seconds };
}

export function describeFigures(f: FullFrameFigures): string {
  return `${f.updatesPerSecond.toFixed(1)} full-frame updates/s, ${(f.bytesPerSecond / 2 ** 20).toFixed(1)} MiB/s (request to last byte)`;
}

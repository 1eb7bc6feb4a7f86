import { Duplex } from 'node:stream';
import { RgbImage } from './ppm';

/**
 * A minimal RFB (VNC) server, version 3.8 (RFC 6143), for drivers whose hypervisor has no VNC
 * server of its own but can capture frames (the sim). One session is one Duplex: bytes the
 * client sends are written to it, bytes for the client are read from it — so it is handled
 * exactly like a connection to QEMU's VNC socket.
 *
 * What it does: security type None only (the caller was authenticated before the stream
 * opened), a shared desktop, Raw-encoded updates of the whole requested rectangle in the
 * pixel format the client asks for (true colour; 32-bit BGRX little-endian until then).
 * Key, pointer and clipboard messages are read and ignored; encodings other than Raw are
 * never used, which RFB allows.
 */

export const RFB_PROTOCOL_VERSION = 'RFB 003.008\n';

/** RFB's PIXEL_FORMAT (RFC 6143 §7.4), true colour only. */
export interface RfbPixelFormat {
  bitsPerPixel: 8 | 16 | 32;
  depth: number;
  bigEndian: boolean;
  trueColour: boolean;
  redMax: number;
  greenMax: number;
  blueMax: number;
  redShift: number;
  greenShift: number;
  blueShift: number;
}

/** What ServerInit announces: 32-bit pixels, 8 bits per colour, red in bits 16–23. */
export const SERVER_PIXEL_FORMAT: RfbPixelFormat = {
  bitsPerPixel: 32,
  depth: 24,
  bigEndian: false,
  trueColour: true,
  redMax: 255,
  greenMax: 255,
  blueMax: 255,
  redShift: 16,
  greenShift: 8,
  blueShift: 0,
};

/** The display whose frames a session serves. */
export interface RfbFrameSource {
  /** The desktop name ServerInit carries. */
  name: string;
  /** The display's current frame. */
  capture(): Promise<RgbImage>;
}

export interface RfbServerOptions {
  /**
   * Incremental update requests are answered at most this often. The frames served change
   * with every capture, so answering at once would send frames as fast as the link allows.
   */
  frameIntervalMs: number;
}

export class RfbProtocolError extends Error {
  override readonly name: string = 'RfbProtocolError';
}

interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Client-to-server message types (RFC 6143 §7.5). */
const SET_PIXEL_FORMAT = 0;
const SET_ENCODINGS = 2;
const FRAMEBUFFER_UPDATE_REQUEST = 3;
const KEY_EVENT = 4;
const POINTER_EVENT = 5;
const CLIENT_CUT_TEXT = 6;
const SECURITY_NONE = 1;
const ENCODING_RAW = 0;
/** Larger clipboard texts end the session rather than being buffered. */
const MAX_CUT_TEXT = 1024 * 1024;

export function encodePixelFormat(format: RfbPixelFormat): Buffer {
  const buffer = Buffer.alloc(16);
  buffer.writeUInt8(format.bitsPerPixel, 0);
  buffer.writeUInt8(format.depth, 1);
  buffer.writeUInt8(format.bigEndian ? 1 : 0, 2);
  buffer.writeUInt8(format.trueColour ? 1 : 0, 3);
  buffer.writeUInt16BE(format.redMax, 4);
  buffer.writeUInt16BE(format.greenMax, 6);
  buffer.writeUInt16BE(format.blueMax, 8);
  buffer.writeUInt8(format.redShift, 10);
  buffer.writeUInt8(format.greenShift, 11);
  buffer.writeUInt8(format.blueShift, 12);
  return buffer; // three bytes of padding
}

export function decodePixelFormat(buffer: Buffer): RfbPixelFormat {
  const bitsPerPixel = buffer.readUInt8(0);
  if (bitsPerPixel !== 8 && bitsPerPixel !== 16 && bitsPerPixel !== 32) {
    throw new RfbProtocolError(`unsupported bits-per-pixel ${bitsPerPixel}`);
  }
  return {
    bitsPerPixel,
    depth: buffer.readUInt8(1),
    bigEndian: buffer.readUInt8(2) !== 0,
    trueColour: buffer.readUInt8(3) !== 0,
    redMax: buffer.readUInt16BE(4),
    greenMax: buffer.readUInt16BE(6),
    blueMax: buffer.readUInt16BE(8),
    redShift: buffer.readUInt8(10),
    greenShift: buffer.readUInt8(11),
    blueShift: buffer.readUInt8(12),
  };
}

/** The pixels of `rect` of `image` in `format`, row by row (a Raw rectangle's body). */
export function rawPixels(image: RgbImage, rect: Rect, format: RfbPixelFormat): Buffer {
  const bytesPerPixel = format.bitsPerPixel / 8;
  const out = Buffer.alloc(rect.width * rect.height * bytesPerPixel);
  const { rgb, width } = image;
  const byteAligned =
    format.bitsPerPixel === 32 &&
    [format.redMax, format.greenMax, format.blueMax].every((max) => max === 255) &&
    [format.redShift, format.greenShift, format.blueShift].every((shift) => shift % 8 === 0 && shift <= 24);
  if (byteAligned) {
    // Each colour is one whole byte of the pixel: copy bytes instead of composing values.
    const at = (shift: number) => (format.bigEndian ? 3 - shift / 8 : shift / 8);
    const [r, g, b] = [at(format.redShift), at(format.greenShift), at(format.blueShift)];
    let o = 0;
    for (let y = rect.y; y < rect.y + rect.height; y++) {
      for (let i = (y * width + rect.x) * 3, end = i + rect.width * 3; i < end; i += 3, o += 4) {
        out[o + r] = rgb[i];
        out[o + g] = rgb[i + 1];
        out[o + b] = rgb[i + 2];
      }
    }
    return out;
  }
  const scale = (value: number, max: number) => Math.round((value * max) / 255);
  let o = 0;
  for (let y = rect.y; y < rect.y + rect.height; y++) {
    for (let i = (y * width + rect.x) * 3, end = i + rect.width * 3; i < end; i += 3, o += bytesPerPixel) {
      const pixel =
        ((scale(rgb[i], format.redMax) << format.redShift) |
          (scale(rgb[i + 1], format.greenMax) << format.greenShift) |
          (scale(rgb[i + 2], format.blueMax) << format.blueShift)) >>>
        0;
      if (format.bigEndian) out.writeUIntBE(pixel, o, bytesPerPixel);
      else out.writeUIntLE(pixel, o, bytesPerPixel);
    }
  }
  return out;
}

type Phase = 'version' | 'security' | 'client-init' | 'normal' | 'closed';

/** One client's RFB session (see the file's comment). */
export class RfbServerSession extends Duplex {
  private phase: Phase = 'version';
  private input: Buffer = Buffer.alloc(0);
  private minor = 8;
  private format = SERVER_PIXEL_FORMAT;
  /** The update the client asked for and has not had yet. */
  private wanted: { rect: Rect; incremental: boolean } | undefined;
  private sending = false;
  private lastSentAt = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Resolves when the reader wants more (backpressure on updates). */
  private readable$: (() => void) | undefined;

  constructor(
    private readonly source: RfbFrameSource,
    private readonly options: RfbServerOptions,
  ) {
    super();
    this.push(Buffer.from(RFB_PROTOCOL_VERSION, 'latin1'));
  }

  override _read(): void {
    const resume = this.readable$;
    this.readable$ = undefined;
    resume?.();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.input = this.input.length ? Buffer.concat([this.input, chunk]) : chunk;
    this.consume().then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    // The client is done sending: so is the server.
    this.stop();
    this.push(null);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.stop();
    const resume = this.readable$;
    this.readable$ = undefined;
    resume?.();
    callback(error);
  }

  private stop(): void {
    this.phase = 'closed';
    clearTimeout(this.timer);
    this.wanted = undefined;
  }

  /** Handles every complete message in the input, in order. */
  private async consume(): Promise<void> {
    for (;;) {
      const used = await this.handle(this.input);
      if (used === 0) return;
      this.input = this.input.subarray(used);
    }
  }

  /** Handles the message at the start of `data`; returns the bytes it took, 0 when it is not complete. */
  private async handle(data: Buffer): Promise<number> {
    switch (this.phase) {
      case 'version': {
        if (data.length < 12) return 0;
        const match = /^RFB (\d{3})\.(\d{3})\n$/.exec(data.toString('latin1', 0, 12));
        if (!match || Number(match[1]) !== 3 || Number(match[2]) < 3) throw new RfbProtocolError('the client sent no RFB 3.x version');
        // 3.3 and 3.7 are what 3.8 servers must also speak; later minors (Apple's 3.889) get 3.8.
        this.minor = Math.min(Number(match[2]), 8);
        if (this.minor < 7) {
          this.push(u32(SECURITY_NONE)); // 3.3: the server chooses
          this.phase = 'client-init';
        } else {
          this.push(Buffer.from([1, SECURITY_NONE]));
          this.phase = 'security';
        }
        return 12;
      }
      case 'security': {
        if (data.length < 1) return 0;
        if (data[0] !== SECURITY_NONE) {
          const reason = Buffer.from('only security type None (1) is offered', 'latin1');
          // SecurityResult "failed" (with its reason from 3.8 on), then the server closes.
          this.push(Buffer.concat([u32(1), ...(this.minor >= 8 ? [u32(reason.length), reason] : [])]));
          this.stop();
          this.push(null);
          return data.length;
        }
        if (this.minor >= 8) this.push(u32(0)); // SecurityResult OK (3.7 sends none for None)
        this.phase = 'client-init';
        return 1;
      }
      case 'client-init': {
        if (data.length < 1) return 0;
        // The shared flag is not looked at: every viewer shares the display.
        const frame = await this.source.capture();
        const name = Buffer.from(this.source.name, 'utf8');
        const head = Buffer.alloc(4);
        head.writeUInt16BE(frame.width, 0);
        head.writeUInt16BE(frame.height, 2);
        this.push(Buffer.concat([head, encodePixelFormat(this.format), u32(name.length), name]));
        this.phase = 'normal';
        return 1;
      }
      case 'normal':
        return this.handleMessage(data);
      case 'closed':
        return data.length;
    }
  }

  private handleMessage(data: Buffer): number {
    if (data.length < 1) return 0;
    switch (data[0]) {
      case SET_PIXEL_FORMAT: {
        if (data.length < 20) return 0;
        const format = decodePixelFormat(data.subarray(4, 20));
        if (!format.trueColour) throw new RfbProtocolError('colour-map pixel formats are not supported');
        this.format = format;
        return 20;
      }
      case SET_ENCODINGS: {
        if (data.length < 4) return 0;
        const length = 4 + 4 * data.readUInt16BE(2);
        return data.length < length ? 0 : length; // Raw is always allowed, and all that is sent
      }
      case FRAMEBUFFER_UPDATE_REQUEST: {
        if (data.length < 10) return 0;
        const rect = { x: data.readUInt16BE(2), y: data.readUInt16BE(4), width: data.readUInt16BE(6), height: data.readUInt16BE(8) };
        const incremental = data[1] !== 0 && (this.wanted?.incremental ?? true);
        this.wanted = { rect, incremental };
        this.schedule();
        return 10;
      }
      case KEY_EVENT:
        return data.length < 8 ? 0 : 8;
      case POINTER_EVENT:
        return data.length < 6 ? 0 : 6;
      case CLIENT_CUT_TEXT: {
        if (data.length < 8) return 0;
        // A negative length is the extended clipboard's (never offered here, skipped all the same).
        const length = Math.abs(data.readInt32BE(4));
        if (length > MAX_CUT_TEXT) throw new RfbProtocolError(`clipboard text of ${length} bytes is too large`);
        return data.length < 8 + length ? 0 : 8 + length;
      }
      default:
        throw new RfbProtocolError(`unknown client message type ${data[0]}`);
    }
  }

  /** Sends the wanted update now (a full one) or once the frame interval has passed (an incremental one). */
  private schedule(): void {
    if (this.timer && this.wanted && !this.wanted.incremental) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.sending || this.timer || !this.wanted) return;
    const wait = this.wanted.incremental ? this.lastSentAt + this.options.frameIntervalMs - Date.now() : 0;
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.schedule();
      }, wait);
      return;
    }
    this.sending = true;
    this.sendUpdate()
      .then(() => {
        this.sending = false;
        this.schedule();
      })
      .catch((error: Error) => this.destroy(error));
  }

  private async sendUpdate(): Promise<void> {
    const wanted = this.wanted;
    if (!wanted || this.phase !== 'normal') return;
    this.wanted = undefined;
    const frame = await this.source.capture();
    if (this.phase !== 'normal') return;
    const rect = clip(wanted.rect, frame);
    const message = Buffer.alloc(16);
    message.writeUInt8(0, 0); // FramebufferUpdate
    message.writeUInt16BE(rect.width && rect.height ? 1 : 0, 2);
    message.writeUInt16BE(rect.x, 4);
    message.writeUInt16BE(rect.y, 6);
    message.writeUInt16BE(rect.width, 8);
    message.writeUInt16BE(rect.height, 10);
    message.writeInt32BE(ENCODING_RAW, 12);
    const body = rect.width && rect.height ? Buffer.concat([message, rawPixels(frame, rect, this.format)]) : message.subarray(0, 4);
    this.lastSentAt = Date.now();
    if (!this.push(body)) await new Promise<void>((resolve) => (this.readable$ = resolve));
  }
}

function u32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32BE(value, 0);
  return buffer;
}

/** `rect` cut to the frame (a request may reach past it, or the frame may have shrunk). */
function clip(rect: Rect, frame: { width: number; height: number }): Rect {
  const x = Math.min(rect.x, frame.width);
  const y = Math.min(rect.y, frame.height);
  return { x, y, width: Math.min(rect.width, frame.width - x), height: Math.min(rect.height, frame.height - y) };
}

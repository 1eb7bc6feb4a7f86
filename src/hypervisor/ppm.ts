import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { deflate as deflateCallback } from 'node:zlib';

/**
 * Binary PPM (P6) in, PNG out — how a native frame capture becomes a screenshot.
 * Dependency-free: the PNG is RGB, 8 bits per sample, filter 0 on every row, one zlib
 * stream in one IDAT chunk.
 */

const deflate = promisify(deflateCallback);

export interface RgbImage {
  width: number;
  height: number;
  /** width × height × 3 bytes, rows top to bottom. */
  rgb: Buffer;
}

export class ImageFormatError extends Error {
  override readonly name: string = 'ImageFormatError';
}

/** Parses a binary PPM (P6). Samples with maxval > 255 (2 bytes) are scaled to 8 bits. */
export function parsePpm(data: Buffer): RgbImage {
  let pos = 0;
  const token = (): string => {
    // Whitespace and comments separate header tokens.
    for (;;) {
      while (pos < data.length && /\s/.test(String.fromCharCode(data[pos]))) pos++;
      if (data[pos] !== 0x23 /* # */) break;
      while (pos < data.length && data[pos] !== 0x0a && data[pos] !== 0x0d) pos++;
    }
    const start = pos;
    while (pos < data.length && !/\s/.test(String.fromCharCode(data[pos])) && data[pos] !== 0x23) pos++;
    return data.toString('latin1', start, pos);
  };
  if (token() !== 'P6') throw new ImageFormatError('not a binary PPM (P6) image');
  const number = (what: string, max: number): number => {
    const text = token();
    const value = Number(text);
    if (!/^\d+$/.test(text) || value < 1 || value > max) throw new ImageFormatError(`bad PPM ${what}: "${text}"`);
    return value;
  };
  const width = number('width', 1 << 16);
  const height = number('height', 1 << 16);
  const maxval = number('maxval', 65535);
  pos++; // exactly one whitespace byte before the samples
  const bytesPerSample = maxval > 255 ? 2 : 1;
  const samples = width * height * 3;
  if (data.length - pos < samples * bytesPerSample) {
    throw new ImageFormatError(`truncated PPM: ${width}×${height} needs ${samples * bytesPerSample} bytes of samples`);
  }
  let rgb: Buffer;
  if (bytesPerSample === 1 && maxval === 255) {
    rgb = Buffer.from(data.subarray(pos, pos + samples));
  } else {
    rgb = Buffer.allocUnsafe(samples);
    for (let i = 0; i < samples; i++) {
      const v = bytesPerSample === 2 ? data.readUInt16BE(pos + i * 2) : data[pos + i];
      rgb[i] = Math.round((v * 255) / maxval);
    }
  }
  return { width, height, rgb };
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (ISO 3309, as PNG uses it). */
export function crc32(...parts: Buffer[]): number {
  let c = 0xffffffff;
  for (const part of parts) for (let i = 0; i < part.length; i++) c = CRC_TABLE[(c ^ part[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(body.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(head.subarray(4), body), 0);
  return Buffer.concat([head, body, crc]);
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Encodes an RGB image as PNG. */
export async function encodePng(image: RgbImage): Promise<Buffer> {
  const { width, height, rgb } = image;
  const stride = width * 3;
  if (rgb.length < stride * height) throw new ImageFormatError('pixel data shorter than width × height × 3');
  const raw = Buffer.alloc((stride + 1) * height); // each row: filter byte 0, then the samples
  for (let y = 0; y < height; y++) rgb.copy(raw, y * (stride + 1) + 1, y * stride, (y + 1) * stride);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: truecolour
  ihdr[10] = 0; // deflate
  ihdr[11] = 0; // filter method 0
  ihdr[12] = 0; // no interlace
  return Buffer.concat([
    PNG_SIGNATURE,
    chunk('IHDR', ihdr),
    chunk('IDAT', await deflate(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

export async function ppmToPng(ppm: Buffer): Promise<{ png: Buffer; width: number; height: number }> {
  const image = parsePpm(ppm);
  return { png: await encodePng(image), width: image.width, height: image.height };
}

/** Reads a PPM file (a driver's screen dump) as PNG. */
export async function readPpmFileAsPng(ppmPath: string): Promise<{ png: Buffer; width: number; height: number }> {
  return ppmToPng(await readFile(ppmPath));
}

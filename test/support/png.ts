import { crc32, inflateSync } from 'node:zlib';

export interface DecodedPng {
  width: number;
  height: number;
  bitDepth: number;
  colourType: number;
  /** RGB samples, filter bytes removed. */
  rgb: Buffer;
  /** Number of distinct colours (counting stops at 1000). */
  colours: number;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const MAX_COLOURS_COUNTED = 1000;

/**
 * A strict little PNG decoder for what src/hypervisor/ppm.ts writes, which is every PNG the
 * server produces (8-bit RGB, filter 0 on every row). Checks the signature, each chunk's CRC
 * (with zlib's CRC-32, not the one under test) and the size of the pixel data.
 */
export function decodePng(png: Buffer): DecodedPng {
  if (!png.subarray(0, 8).equals(SIGNATURE)) throw new Error('bad PNG signature');
  let pos = 8;
  let ihdr: Buffer | undefined;
  const idat: Buffer[] = [];
  let sawEnd = false;
  while (pos < png.length) {
    const length = png.readUInt32BE(pos);
    const type = png.subarray(pos + 4, pos + 8);
    const body = png.subarray(pos + 8, pos + 8 + length);
    const crc = png.readUInt32BE(pos + 8 + length);
    if (crc !== crc32(body, crc32(type))) throw new Error(`bad CRC in ${type.toString('latin1')} chunk`);
    const name = type.toString('latin1');
    if (name === 'IHDR') ihdr = body;
    else if (name === 'IDAT') idat.push(body);
    else if (name === 'IEND') sawEnd = true;
    pos += 12 + length;
  }
  if (!ihdr || !sawEnd || idat.length === 0) throw new Error('PNG lacks IHDR, IDAT or IEND');
  const width = ihdr.readUInt32BE(0);
  const height = ihdr.readUInt32BE(4);
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * 3;
  if (raw.length !== (stride + 1) * height) throw new Error(`IDAT holds ${raw.length} bytes, expected ${(stride + 1) * height}`);
  const rgb = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    if (raw[y * (stride + 1)] !== 0) throw new Error(`row ${y} uses filter ${raw[y * (stride + 1)]}`);
    raw.copy(rgb, y * stride, y * (stride + 1) + 1, (y + 1) * (stride + 1));
  }
  return { width, height, bitDepth: ihdr[8], colourType: ihdr[9], rgb, colours: countColours(rgb) };
}

function countColours(rgb: Buffer): number {
  const colours = new Set<number>();
  for (let i = 0; i + 2 < rgb.length && colours.size < MAX_COLOURS_COUNTED; i += 3) {
    colours.add((rgb[i] << 16) | (rgb[i + 1] << 8) | rgb[i + 2]);
  }
  return colours.size;
}

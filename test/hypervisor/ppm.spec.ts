import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { crc32, encodePng, ImageFormatError, parsePpm, ppmToPng, readPpmFileAsPng } from '../../src/hypervisor/ppm';
import { decodePng } from '../support/png';
import { ScratchDir } from '../support/scratch-dir';

function ppm(width: number, height: number, header = `P6\n${width} ${height}\n255\n`): Buffer {
  const pixels = Buffer.alloc(width * height * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7) & 0xff;
  return Buffer.concat([Buffer.from(header, 'latin1'), pixels]);
}

describe('PPM → PNG', () => {
  it('computes the standard CRC-32', () => {
    assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
    assert.equal(crc32(Buffer.from('IEND')), 0xae426082);
    assert.equal(crc32(Buffer.from('IE'), Buffer.from('ND')), 0xae426082);
  });

  it('parses headers with comments and arbitrary whitespace', () => {
    const image = parsePpm(ppm(3, 2, 'P6 # a comment\n# another\n3\t2\r\n255\n'));
    assert.equal(image.width, 3);
    assert.equal(image.height, 2);
    assert.equal(image.rgb.length, 18);
    assert.equal(image.rgb[1], 7);
  });

  it('scales 16-bit samples down to 8 bits', () => {
    const data = Buffer.concat([Buffer.from('P6 1 1 65535\n'), Buffer.from([0xff, 0xff, 0x80, 0x00, 0x00, 0x00])]);
    assert.deepEqual([...parsePpm(data).rgb], [255, 128, 0]);
  });

  it('rejects what is not a complete P6 image', () => {
    assert.throws(() => parsePpm(Buffer.from('P3 1 1 255\n0 0 0')), ImageFormatError);
    assert.throws(() => parsePpm(Buffer.from('P6 1 x 255\n')), /bad PPM height/);
    assert.throws(() => parsePpm(ppm(4, 4).subarray(0, 40)), /truncated/);
  });

  it('encodes a PNG that decodes to the same pixels (IHDR, filter 0, valid CRCs)', async () => {
    const source = ppm(37, 11);
    const { png, width, height } = await ppmToPng(source);
    assert.equal(width, 37);
    assert.equal(height, 11);
    const decoded = decodePng(png);
    assert.equal(decoded.width, 37);
    assert.equal(decoded.height, 11);
    assert.equal(decoded.bitDepth, 8);
    assert.equal(decoded.colourType, 2);
    assert.ok(decoded.rgb.equals(parsePpm(source).rgb));
  });

  it('refuses pixel data shorter than the size', async () => {
    await assert.rejects(encodePng({ width: 10, height: 10, rgb: Buffer.alloc(10) }), ImageFormatError);
  });

  it('reads a screen dump file as PNG', async () => {
    const dir = new ScratchDir();
    try {
      writeFileSync(dir.file('a.ppm'), ppm(5, 5));
      const { png, width, height } = await readPpmFileAsPng(dir.file('a.ppm'));
      assert.deepEqual([width, height], [5, 5]);
      assert.equal(decodePng(png).width, 5);
    } finally {
      dir.cleanup();
    }
  });
});

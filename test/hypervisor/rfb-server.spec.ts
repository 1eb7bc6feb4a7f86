import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { RgbImage } from '../../src/hypervisor/ppm';
import { RfbServerSession } from '../../src/hypervisor/rfb-server';

/**
 * The sim's RFB server on its own: bytes in, bytes out, against RFC 6143 — the handshake in
 * each protocol version it accepts, pixel formats, messages split across writes, and what
 * ends a session.
 */

/** A 3×2 frame: red, green, blue / white, black, grey. */
const FRAME: RgbImage = {
  width: 3,
  height: 2,
  rgb: Buffer.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 128, 128, 128]),
};

class Peer {
  private data = Buffer.alloc(0);
  readonly session: RfbServerSession;
  /** Resolves when the server has ended its side. */
  readonly ended: Promise<unknown>;
  captures = 0;

  constructor(frameIntervalMs = 50) {
    this.session = new RfbServerSession(
      {
        name: 'test-vm',
        capture: async () => {
          this.captures++;
          return FRAME;
        },
      },
      { frameIntervalMs },
    );
    this.session.on('data', (chunk: Buffer) => (this.data = Buffer.concat([this.data, chunk])));
    this.ended = new Promise((resolve) => this.session.once('end', resolve));
  }

  /** Waits until `n` bytes have come from the server and takes them. */
  async take(n: number): Promise<Buffer> {
    const deadline = Date.now() + 2000;
    while (this.data.length < n) {
      if (Date.now() > deadline) assert.fail(`the server sent ${this.data.length} bytes, ${n} were awaited`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const out = this.data.subarray(0, n);
    this.data = this.data.subarray(n);
    return out;
  }

  send(bytes: number[] | Buffer): void {
    this.session.write(Buffer.from(bytes));
  }

  /** The 3.8 handshake up to and including ServerInit. */
  async handshake(): Promise<Buffer> {
    assert.equal((await this.take(12)).toString('latin1'), 'RFB 003.008\n');
    this.send(Buffer.from('RFB 003.008\n', 'latin1'));
    assert.deepEqual([...(await this.take(2))], [1, 1], 'one security type: None');
    this.send([1]);
    assert.deepEqual([...(await this.take(4))], [0, 0, 0, 0], 'SecurityResult OK');
    this.send([1]);
    return this.take(24 + 'test-vm'.length);
  }
}

function updateRequest(incremental: boolean, width = 3, height = 2): number[] {
  return [3, incremental ? 1 : 0, 0, 0, 0, 0, 0, width, 0, height];
}

describe('RfbServerSession', () => {
  it('3.8: version, security type None, SecurityResult, then ServerInit with the frame\'s size, 32-bit BGRX and the name', async () => {
    const peer = new Peer();
    const init = await peer.handshake();
    assert.deepEqual([init.readUInt16BE(0), init.readUInt16BE(2)], [3, 2]);
    // bpp 32, depth 24, little-endian, true colour, maxima 255, shifts 16/8/0
    assert.deepEqual([...init.subarray(4, 17)], [32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0]);
    assert.equal(init.readUInt32BE(20), 7);
    assert.equal(init.toString('utf8', 24), 'test-vm');
    peer.session.destroy();
  });

  it('3.7 gets no SecurityResult for None; 3.3 gets the security type chosen by the server', async () => {
    const v37 = new Peer();
    await v37.take(12);
    v37.send(Buffer.from('RFB 003.007\n', 'latin1'));
    assert.deepEqual([...(await v37.take(2))], [1, 1]);
    v37.send([1, 1]); // security type, then ClientInit at once
    assert.equal((await v37.take(24)).readUInt16BE(0), 3, 'ServerInit follows directly');
    v37.session.destroy();

    const v33 = new Peer();
    await v33.take(12);
    v33.send(Buffer.from('RFB 003.003\n', 'latin1'));
    assert.deepEqual([...(await v33.take(4))], [0, 0, 0, 1], 'security type None, as a 32-bit number');
    v33.send([1]);
    assert.equal((await v33.take(24)).readUInt16BE(2), 2);
    v33.session.destroy();
  });

  it('a client choosing another security type gets a failed SecurityResult with the reason, and the session ends', async () => {
    const peer = new Peer();
    await peer.take(12);
    peer.send(Buffer.from('RFB 003.008\n', 'latin1'));
    await peer.take(2);
    peer.send([2]); // VNC authentication
    const result = await peer.take(8);
    assert.equal(result.readUInt32BE(0), 1);
    const reason = (await peer.take(result.readUInt32BE(4))).toString('latin1');
    assert.match(reason, /None/);
    await peer.ended;
  });

  it('Raw updates in the server\'s format and in a 16-bit big-endian RGB565 format the client sets; other messages are read and ignored, even split byte by byte', async () => {
    const peer = new Peer();
    await peer.handshake();
    // SetEncodings (Raw, CopyRect), KeyEvent, PointerEvent, ClientCutText "hi", fed one byte at a time.
    const noise = [2, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 4, 1, 0, 0, 0, 0, 0, 0x61, 5, 0, 0, 10, 0, 20, 6, 0, 0, 0, 0, 0, 0, 2, 0x68, 0x69];
    for (const byte of [...noise, ...updateRequest(false)]) peer.send([byte]);
    const head = await peer.take(16);
    assert.deepEqual([head[0], head.readUInt16BE(2)], [0, 1], 'one rectangle');
    assert.deepEqual([head.readUInt16BE(8), head.readUInt16BE(10), head.readInt32BE(12)], [3, 2, 0], '3×2, Raw');
    const pixels = await peer.take(3 * 2 * 4);
    assert.deepEqual([...pixels.subarray(0, 12)], [0, 0, 255, 0, 0, 255, 0, 0, 255, 0, 0, 0], 'B G R X: red, green, blue');

    // RGB565, big-endian: red in bits 11–15, green 5–10, blue 0–4.
    peer.send([0, 0, 0, 0, 16, 16, 1, 1, 0, 31, 0, 63, 0, 31, 11, 5, 0, 0, 0, 0]);
    peer.send(updateRequest(false));
    await peer.take(16);
    const rgb565 = await peer.take(3 * 2 * 2);
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5].map((i) => rgb565.readUInt16BE(i * 2)),
      [0xf800, 0x07e0, 0x001f, 0xffff, 0x0000, (16 << 11) | (32 << 5) | 16],
    );
    peer.session.destroy();
  });

  it('an incremental request is answered after the frame interval, a full one at once; a rectangle past the frame is cut to it', async () => {
    const peer = new Peer(300);
    await peer.handshake();
    peer.send(updateRequest(false, 100, 100));
    const head = await peer.take(16);
    assert.deepEqual([head.readUInt16BE(8), head.readUInt16BE(10)], [3, 2]);
    await peer.take(24);
    const asked = Date.now();
    peer.send(updateRequest(true));
    await peer.take(16 + 24);
    assert.ok(Date.now() - asked >= 250, `answered after ${Date.now() - asked} ms`);
    peer.session.destroy();
  });

  it('an unknown message type or a colour-map pixel format ends the session with an error', async () => {
    for (const message of [[99], [0, 0, 0, 0, 8, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]]) {
      const peer = new Peer();
      await peer.handshake();
      const failed = once(peer.session, 'error');
      peer.send(message);
      const [error] = await failed;
      assert.equal((error as Error).name, 'RfbProtocolError');
    }
  });
});

import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { LogCapture } from '../support/log-capture';
import { TestApp } from '../support/test-app';

interface RawReply {
  status: number;
  headers: string;
  body: any;
}

/**
 * What Fastify or Node's HTTP parser answer themselves, before any route: each answer is
 * in the `{code, message}` shape like the rest of the API.
 */
describe('errors raised before routing get the {code, message} shape', () => {
  let t: TestApp;
  let log: LogCapture;
  let port: number;

  before(async () => {
    t = await TestApp.start();
    port = await t.listen();
    log = LogCapture.start();
  });
  after(async () => {
    log.stop();
    await t.close();
  });

  /** Sends bytes as they are and reads the answer up to the server's close. */
  function raw(request: string): Promise<RawReply> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(request));
      const chunks: Buffer[] = [];
      socket.on('data', (chunk) => chunks.push(chunk));
      socket.on('error', reject);
      socket.on('close', () => {
        const text = Buffer.concat(chunks).toString();
        const [head, ...rest] = text.split('\r\n\r\n');
        resolve({ status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(head)?.[1]), headers: head, body: JSON.parse(rest.join('\r\n\r\n')) });
      });
    });
  }

  function assertShape(reply: RawReply, status: number, code: string): void {
    assert.equal(reply.status, status, reply.headers);
    assert.match(reply.headers, /content-type: application\/json/i);
    assert.deepEqual(Object.keys(reply.body).sort(), ['code', 'message'], JSON.stringify(reply.body));
    assert.equal(reply.body.code, code);
  }

  it('malformed HTTP: 400 REQUEST_REJECTED', async () => {
    assertShape(await raw('NOT HTTP AT ALL\r\n\r\n'), 400, 'REQUEST_REJECTED');
  });

  it('headers over the 16 KiB Node takes: 431 HEADERS_TOO_LARGE', async () => {
    const reply = await raw(`GET /health HTTP/1.1\r\nHost: x\r\nX-Padding: ${'a'.repeat(20_000)}\r\n\r\n`);
    assertShape(reply, 431, 'HEADERS_TOO_LARGE');
  });

  it('a URL with a broken percent-encoding: 400 REQUEST_REJECTED, the URL neither echoed nor logged with its authkey', async () => {
    const reply = await raw('GET /u/group/list/%E0%A4%A?authkey=not-for-the-log HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assertShape(reply, 400, 'REQUEST_REJECTED');
    assert.doesNotMatch(JSON.stringify(reply.body), /authkey/);
    assert.deepEqual(log.containing('not-for-the-log'), []);
    assert.deepEqual(log.at('error'), []);
  });

  it('a body of a type no route takes: 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    const body = '<group/>';
    const reply = await raw(
      `PUT /u/group HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    );
    assertShape(reply, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });
});

import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { LogCapture } from '../support/log-capture';
import { TestApp } from '../support/test-app';

/**
 * A client that goes away in the middle of its request (an upload cancelled, a dropped
 * connection) is nothing the server did wrong: a debug line, not an error with a stack.
 */
describe('a request the client cuts off is logged at debug, not as an error', () => {
  let t: TestApp;
  let log: LogCapture;
  let port: number;
  let root: string;
  let gid: string;

  before(async () => {
    t = await TestApp.start();
    port = await t.listen();
    root = await t.loginRoot();
    gid = await t.createGroup(root, 'uploads');
    log = LogCapture.start();
  });
  after(async () => {
    log.stop();
    await t.close();
  });

  /** Sends the head and part of the body the head announces, then closes the connection. */
  async function cutOff(head: string, partOfBody: Buffer): Promise<void> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write(head);
    await new Promise<void>((resolve) => socket.write(partOfBody, () => resolve()));
    // Let the server start reading the body before the connection goes.
    await new Promise((resolve) => setTimeout(resolve, 100));
    socket.destroy();
  }

  async function debugLineFor(path: string): Promise<string> {
    for (const deadline = Date.now() + 5000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 20))) {
      const line = log.at('debug').find((text) => text.includes(path) && text.includes('closed the connection'));
      if (line) return line;
    }
    assert.fail(`no debug line for ${path}; log: ${JSON.stringify(log.lines)}`);
  }

  it('a JSON body cut off', async () => {
    await cutOff(
      `PUT /u/group HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${root}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`,
      Buffer.from('{"groupname": "half'),
    );
    await debugLineFor('PUT /u/group');
    assert.deepEqual(log.at('error'), []);
  });

  it('an upload cut off, which also leaves no partial file', async () => {
    const path = `/r/storage/upload?group=${gid}&name=cut.img`;
    await cutOff(
      `POST ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${root}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${64 * 1024 * 1024}\r\n\r\n`,
      Buffer.alloc(256 * 1024, 7),
    );
    await debugLineFor('POST /r/storage/upload');
    assert.deepEqual(log.at('error'), []);
    assert.deepEqual(readdirSync(join(t.config.dataDir, 'storage')), []);
    assert.equal(await t.count('storage'), 0);
  });
});

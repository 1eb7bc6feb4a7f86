import { connect } from 'node:net';

/** What a raw upgrade request got back, seen from a client that never closes first (until `giveUpMs`). */
export interface RawAnswer {
  status: number | null;
  body: any;
  /** The server ended the connection (rather than the client giving up). */
  closedByServer: boolean;
  ms: number;
  /** Everything the server sent, as text. */
  data: string;
}

export const HANDSHAKE = { upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' };

export function rawUpgrade(port: number, target: string, headers: Record<string, string> = HANDSHAKE, giveUpMs = 5000): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    let data = '';
    let closedByServer = false;
    const giveUp = setTimeout(() => socket.destroy(), giveUpMs);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('end', () => (closedByServer = true));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(giveUp);
      const [head, body] = data.split('\r\n\r\n');
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(head ?? '')?.[1];
      resolve({ status: status ? Number(status) : null, body: parseBody(body), closedByServer, ms: Date.now() - started, data });
    });
    const lines = Object.entries({ host: `127.0.0.1:${port}`, ...headers }).map(([k, v]) => `${k}: ${v}`);
    socket.write(`GET ${target} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`);
  });
}

function parseBody(body: string | undefined): unknown {
  try {
    return body ? JSON.parse(body) : undefined;
  } catch {
    return body; // not the API's error shape: the assertions say so
  }
}

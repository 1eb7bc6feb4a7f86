import WebSocket from 'ws';

/** Opens a WebSocket; resolves once it is open, rejects with the status of a refused upgrade. */
export function openWebSocket(url: string, headers: Record<string, string>): Promise<WebSocket> {
  const socket = new WebSocket(url, { headers });
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve(socket));
    socket.once('unexpected-response', (_request, response) => reject(new Error(`upgrade refused: ${response.statusCode}`)));
    socket.once('error', reject);
  });
}

/** The status with which the server refuses an upgrade; rejects if the socket opens. */
export function refusedUpgradeStatus(url: string, headers: Record<string, string>): Promise<number> {
  const socket = new WebSocket(url, { headers });
  return new Promise((resolve, reject) => {
    socket.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
    socket.once('open', () => {
      socket.close();
      reject(new Error(`${url} opened; a refusal was expected`));
    });
    socket.once('error', () => undefined);
  });
}

import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import { findRepoRoot } from '../../src/hypervisor/driver-selection';

/**
 * A test page with noVNC itself (the @novnc/novnc package, unmodified), served by a tiny
 * static server on loopback: `/` is the page, `/novnc/…` the package's files. The page
 * defines `openScreen(url)` (connects noVNC to a remote-screen WebSocket; resolves once the
 * RFB handshake is done) and `screenPixels()` (the canvas noVNC draws on, as base64 RGB).
 */

const NOVNC = join(findRepoRoot(__dirname), 'node_modules', '@novnc', 'novnc');

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.html': 'text/html', '.json': 'application/json' };

const PAGE = `<!doctype html>
<html>
<head><meta charset="utf-8"><title>Velocity remote screen in noVNC</title></head>
<body style="margin:0">
<div id="screen" style="width:1280px;height:1024px"></div>
<script type="module">
import RFB from '/novnc/core/rfb.js';

window.events = [];
window.openScreen = (url) =>
  new Promise((resolve, reject) => {
    const rfb = new RFB(document.getElementById('screen'), url, { wsProtocols: ['binary'], shared: true });
    rfb.addEventListener('connect', () => {
      window.events.push('connect');
      resolve();
    });
    rfb.addEventListener('disconnect', (e) => {
      window.events.push(e.detail.clean ? 'disconnect (clean)' : 'disconnect (error)');
      reject(new Error('noVNC disconnected'));
    });
    rfb.addEventListener('securityfailure', (e) => window.events.push('securityfailure: ' + e.detail.reason));
    window.rfb = rfb;
  });

window.screenPixels = () => {
  const canvas = document.querySelector('#screen canvas');
  const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
  const rgb = new Uint8Array(canvas.width * canvas.height * 3);
  for (let i = 0, o = 0; i < data.length; i += 4, o += 3) {
    rgb[o] = data[i];
    rgb[o + 1] = data[i + 1];
    rgb[o + 2] = data[i + 2];
  }
  let binary = '';
  for (let i = 0; i < rgb.length; i += 0x8000) binary += String.fromCharCode(...rgb.subarray(i, i + 0x8000));
  return { width: canvas.width, height: canvas.height, rgb: btoa(binary) };
};
window.pageReady = true;
</script>
</body>
</html>
`;

export interface NoVncPage {
  url: string;
  close(): Promise<void>;
}

export async function serveNoVncPage(): Promise<NoVncPage> {
  const server = createServer(async (request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (path === '/') {
      response.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
      return;
    }
    const file = normalize(join(NOVNC, path.replace(/^\/novnc\//, '')));
    if (!path.startsWith('/novnc/') || !file.startsWith(NOVNC + sep)) {
      response.writeHead(404).end();
      return;
    }
    try {
      const body = await readFile(file);
      response.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

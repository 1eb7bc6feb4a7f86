/*
 * The benchmark's baseline: a bare Fastify process answering one JSON route, on the same
 * machine as Velocity, so every Velocity figure is a ratio to what Fastify itself does here.
 * Prints the port it listens on.
 */
import Fastify from 'fastify';
import { AddressInfo } from 'node:net';

async function main(): Promise<void> {
  const bare = Fastify({ logger: false });
  bare.get('/ping', async () => ({ status: 'ok' }));
  await bare.listen({ port: 0, host: '127.0.0.1' });
  process.stdout.write(`${(bare.server.address() as AddressInfo).port}\n`);
  process.once('SIGTERM', () => void bare.close().then(() => process.exit(0)));
}

void main();

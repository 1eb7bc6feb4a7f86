import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { VmPortForwardConfig } from '../../hypervisor-driver';
import { HypervisorError } from '../../hypervisor.errors';

/**
 * Checks, just before QEMU starts, that every forwarded host port can be bound, so that a
 * port another process holds fails the start with a message naming it. (QEMU would exit
 * too, with "Could not set up host forwarding rule"; a process binding the port in between
 * still gets that, through the ordinary failed-start path.)
 */
export async function assertHostPortsFree(forwards: VmPortForwardConfig[]): Promise<void> {
  for (const forward of forwards) {
    const error = await bindError(forward);
    if (error) {
      const where = `${forward.host_address}:${forward.host_port}/${forward.protocol}`;
      const why = error.code === 'EADDRINUSE' ? 'is in use by another process' : `cannot be bound (${error.code ?? error.message})`;
      throw new HypervisorError('HYPERVISOR_ERROR', `host port ${where}, forwarded to guest port ${forward.guest_port}, ${why}`);
    }
  }
}

/** Binds the port for a moment; the error, or undefined when it could be bound. */
function bindError({ protocol, host_address, host_port }: VmPortForwardConfig): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    if (protocol === 'udp') {
      const socket = createSocket('udp4');
      socket.once('error', (err) => {
        socket.close();
        resolve(err);
      });
      socket.bind(host_port, host_address, () => socket.close(() => resolve(undefined)));
      return;
    }
    const server = createServer();
    server.once('error', (err) => resolve(err));
    // exclusive: no sharing with a cluster primary; the probe must see the port as QEMU will.
    server.listen({ port: host_port, host: host_address, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

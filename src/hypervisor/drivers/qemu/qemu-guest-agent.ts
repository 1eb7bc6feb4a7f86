import { randomInt } from 'node:crypto';
import { connect } from 'node:net';

/**
 * A one-shot client of the QEMU guest agent (qemu-ga) through the VM's agent socket: the
 * host end of the virtio-serial port `org.qemu.guest_agent.0`. The agent speaks QMP-like
 * JSON lines but has no greeting, and a reply to an earlier, abandoned client may still be
 * in the pipe, so every session starts with `guest-sync-delimited`: the agent answers it
 * after a 0xFF byte, and everything before that byte is stale and dropped. A 0xFF sent
 * first makes the agent's JSON parser drop a half-received command of an earlier client.
 * See qemu/qga/qapi-schema.json.
 */

/** One guest interface as guest-network-get-interfaces reports it. */
export interface GuestAgentInterface {
  name: string;
  'hardware-address'?: string;
  'ip-addresses'?: Array<{ 'ip-address-type': 'ipv4' | 'ipv6'; 'ip-address': string; prefix: number }>;
}

const DELIMITER = 0xff;

/** Asks the agent for the guest's interfaces; rejects on a timeout, a closed socket or an agent error. */
export function guestNetworkInterfaces(socketPath: string, timeoutMs: number): Promise<GuestAgentInterface[]> {
  return new Promise((resolve, reject) => {
    const syncId = randomInt(1, 2 ** 31);
    const socket = connect(socketPath);
    let buffer = Buffer.alloc(0);
    let synced = false;
    const finish = (error: Error | undefined, result?: GuestAgentInterface[]) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(result!);
    };
    const timer = setTimeout(() => finish(new Error(`the guest agent did not answer within ${timeoutMs} ms`)), timeoutMs);

    socket.on('connect', () => {
      socket.write(Buffer.from([DELIMITER]));
      socket.write(`${JSON.stringify({ execute: 'guest-sync-delimited', arguments: { id: syncId } })}\n`);
    });
    socket.on('error', (err) => finish(err));
    socket.on('close', () => finish(new Error('the guest agent socket closed')));
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        if (!synced) {
          const start = buffer.indexOf(DELIMITER);
          if (start < 0) {
            buffer = Buffer.alloc(0); // all stale
            return;
          }
          const end = buffer.indexOf(0x0a, start);
          if (end < 0) return;
          const reply = parseLine(buffer.subarray(start + 1, end));
          buffer = buffer.subarray(end + 1);
          if (reply?.return === syncId) {
            synced = true;
            socket.write(`${JSON.stringify({ execute: 'guest-network-get-interfaces' })}\n`);
          }
          continue;
        }
        const end = buffer.indexOf(0x0a);
        if (end < 0) return;
        const reply = parseLine(buffer.subarray(0, end));
        buffer = buffer.subarray(end + 1);
        if (reply?.error) return finish(new Error(`the guest agent refused: ${JSON.stringify(reply.error)}`));
        if (Array.isArray(reply?.return)) return finish(undefined, reply.return as GuestAgentInterface[]);
      }
    });
  });
}

function parseLine(bytes: Buffer): { return?: unknown; error?: unknown } | undefined {
  try {
    const value: unknown = JSON.parse(bytes.toString('utf8'));
    return typeof value === 'object' && value !== null ? (value as { return?: unknown; error?: unknown }) : undefined;
  } catch {
    return undefined;
  }
}

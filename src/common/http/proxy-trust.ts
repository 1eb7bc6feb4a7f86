import { compile } from '@fastify/proxy-addr';

/** Whether the `hop`-th address from the server (0: the connection's peer) is a proxy we trust. */
export type ProxyTrust = (address: string, hop: number) => boolean;

/**
 * VELOCITY_TRUST_PROXY as one function, given to Fastify as its `trustProxy` and used for
 * our own header decisions, so both trust exactly the same hops. Built as Fastify builds
 * it from the same setting.
 */
export function proxyTrust(setting: boolean | number | string[]): ProxyTrust {
  if (typeof setting === 'boolean') return () => setting;
  if (typeof setting === 'number') return (_address, hop) => hop < setting;
  return compile(setting);
}

import { isIP } from 'node:net';
import { readFile } from 'node:fs/promises';

/**
 * Where a guest's IP addresses come from when the host has to find them itself: the
 * kernel's neighbour table (/proc/net/arp: bridged guests the host has talked to) and the
 * DHCP leases of macOS's vmnet (/var/db/dhcpd_leases: vz NAT guests). Parsers are pure and
 * take the file's text; the readers return [] when the file is missing or unreadable —
 * unknown, never a guess.
 */

export const PROC_NET_ARP = '/proc/net/arp';
export const DHCPD_LEASES = '/var/db/dhcpd_leases';

/**
 * A MAC address in the one form compared here: six lower-case two-digit octets. macOS
 * writes `1:2:3:a:b:c` in dhcpd_leases (leading zeros dropped); undefined for anything that
 * is not six hex octets.
 */
export function normalizeMac(text: string): string | undefined {
  const octets = text.trim().split(':');
  if (octets.length !== 6 || !octets.every((o) => /^[0-9a-fA-F]{1,2}$/.test(o))) return undefined;
  return octets.map((o) => o.toLowerCase().padStart(2, '0')).join(':');
}

/** False for loopback, link-local and unspecified addresses: they do not reach the guest. */
export function isReachableAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return !/^(127\.|169\.254\.|0\.)/.test(address);
  if (family === 6) {
    const lower = address.toLowerCase();
    return lower !== '::1' && lower !== '::' && !/^fe[89ab]/.test(lower);
  }
  return false;
}

export interface NeighbourEntry {
  ip: string;
  mac: string;
}

/** ATF_COM in /proc/net/arp's Flags column: the entry is resolved (not incomplete). */
const ATF_COM = 0x2;

/**
 * /proc/net/arp (Linux): a header line, then `IP  HW-type  Flags  HW-address  Mask  Device`.
 * Only complete entries count; an incomplete one has a zero MAC and says nothing.
 */
export function parseProcNetArp(text: string): NeighbourEntry[] {
  const entries: NeighbourEntry[] = [];
  for (const line of text.split('\n').slice(1)) {
    const [ip, , flags, hw] = line.trim().split(/\s+/);
    if (!ip || !flags || !hw) continue;
    const mac = normalizeMac(hw);
    if (!mac || isIP(ip) === 0 || (Number.parseInt(flags, 16) & ATF_COM) === 0) continue;
    entries.push({ ip, mac });
  }
  return entries;
}

export interface DhcpLease {
  ip: string;
  mac: string;
  /** Unix seconds at which the lease expires. */
  expires: number;
}

/**
 * /var/db/dhcpd_leases (macOS bootpd, which vmnet's NAT uses): blocks of `key=value` lines
 * in braces. `hw_address=1,a:b:c:d:e:f` is the hardware type (1: Ethernet), a comma, then
 * the MAC with leading zeros dropped; `lease=0x…` is the expiry in hex unix seconds.
 */
export function parseDhcpdLeases(text: string): DhcpLease[] {
  const leases: DhcpLease[] = [];
  for (const block of text.split('{').slice(1)) {
    const fields = new Map<string, string>();
    for (const line of block.split('}')[0].split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) fields.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
    }
    const ip = fields.get('ip_address') ?? '';
    const [hwType, hw] = (fields.get('hw_address') ?? '').split(',');
    const mac = hwType === '1' && hw ? normalizeMac(hw) : undefined;
    const expires = Number.parseInt(fields.get('lease') ?? '', 16);
    if (!mac || isIP(ip) === 0 || !Number.isFinite(expires)) continue;
    leases.push({ ip, mac, expires });
  }
  return leases;
}

/** The addresses the neighbour entries give for these MACs, in the table's order, once each. */
export function neighbourAddressesOf(entries: NeighbourEntry[], macs: string[]): string[] {
  const wanted = new Set(macs.map(normalizeMac).filter((m): m is string => m !== undefined));
  return unique(entries.filter((e) => wanted.has(e.mac)).map((e) => e.ip)).filter(isReachableAddress);
}

/**
 * The address of the newest unexpired lease of each MAC. An expired lease is history, not
 * an address the guest holds.
 */
export function leaseAddressesOf(leases: DhcpLease[], macs: string[], nowSeconds: number): string[] {
  const addresses: string[] = [];
  for (const mac of macs.map(normalizeMac)) {
    const newest = leases
      .filter((l) => l.mac === mac && l.expires > nowSeconds)
      .sort((a, b) => b.expires - a.expires)[0];
    if (newest && isReachableAddress(newest.ip)) addresses.push(newest.ip);
  }
  return unique(addresses);
}

/** Addresses of these MACs in the host's neighbour table (Linux; [] elsewhere). */
export async function neighbourAddresses(macs: string[], path = PROC_NET_ARP): Promise<string[]> {
  if (macs.length === 0) return [];
  const text = await readFile(path, 'utf8').catch(() => undefined);
  return text === undefined ? [] : neighbourAddressesOf(parseProcNetArp(text), macs);
}

/** Addresses of these MACs in macOS's DHCP leases ([] without the file). */
export async function leaseAddresses(macs: string[], path = DHCPD_LEASES, now = Date.now()): Promise<string[]> {
  if (macs.length === 0) return [];
  const text = await readFile(path, 'utf8').catch(() => undefined);
  return text === undefined ? [] : leaseAddressesOf(parseDhcpdLeases(text), macs, Math.floor(now / 1000));
}

export function unique(values: string[]): string[] {
  return [...new Set(values)];
}

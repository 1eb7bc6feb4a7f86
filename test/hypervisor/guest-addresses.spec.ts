import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { addressesOfInterfaces } from '../../src/hypervisor/drivers/qemu/qemu-guest-addresses';
import {
  isReachableAddress,
  leaseAddresses,
  leaseAddressesOf,
  neighbourAddresses,
  normalizeMac,
  parseDhcpdLeases,
  parseProcNetArp,
} from '../../src/hypervisor/guest-addresses';
import { ScratchDir } from '../support/scratch-dir';

/** A /var/db/dhcpd_leases as macOS writes it: leading zeros of MAC octets dropped, expiry in hex. */
const NOW = 1_767_225_600; // 2026-01-01T00:00:00Z
const hex = (seconds: number) => `0x${seconds.toString(16)}`;
const LEASES = `{
	name=ubuntu
	ip_address=192.168.64.3
	hw_address=1,2:54:0:a:b:c
	identifier=1,2:54:0:a:b:c
	lease=${hex(NOW - 3600)}
}
{
	name=ubuntu
	ip_address=192.168.64.9
	hw_address=1,2:54:0:a:b:c
	identifier=1,2:54:0:a:b:c
	lease=${hex(NOW + 80_000)}
}
{
	name=debian
	ip_address=192.168.64.4
	hw_address=1,2:54:0:a:b:d
	identifier=1,2:54:0:a:b:d
	lease=${hex(NOW - 1)}
}
{
	name=printer
	ip_address=192.168.64.5
	hw_address=ff,0:1:2:3:4:5:6:7
	lease=${hex(NOW + 100)}
}
{
	name=broken
	ip_address=not-an-address
	hw_address=1,2:54:0:a:b:e
	lease=${hex(NOW + 100)}
}
`;

const ARP = `IP address       HW type     Flags       HW address            Mask     Device
192.168.1.1      0x1         0x2         00:11:22:33:44:55     *        br0
192.168.1.23     0x1         0x2         52:54:00:0A:0B:0C     *        br0
192.168.1.24     0x1         0x0         00:00:00:00:00:00     *        br0
192.168.1.25     0x1         0x0         52:54:00:0a:0b:0d     *        br0
192.168.1.26     0x1         0x6         52:54:00:0a:0b:0c     *        br0
`;

describe('guest addresses from host files', () => {
  const dir = new ScratchDir();
  after(() => dir.cleanup());

  it('MACs compare in one form: lower case, two digits per octet', () => {
    assert.equal(normalizeMac('2:54:0:A:b:c'), '02:54:00:0a:0b:0c');
    assert.equal(normalizeMac(' 52:54:00:0A:0B:0C '), '52:54:00:0a:0b:0c');
    for (const bad of ['', '52:54:00:0a:0b', '52:54:00:0a:0b:0c:0d', '52:54:00:0a:0b:xyz']) assert.equal(normalizeMac(bad), undefined, bad);
  });

  it('loopback, link-local and unspecified addresses never count', () => {
    for (const yes of ['10.0.2.15', '192.168.64.7', 'fd00::7', '2001:db8::1']) assert.ok(isReachableAddress(yes), yes);
    for (const no of ['127.0.0.1', '169.254.1.2', '0.0.0.0', '::1', '::', 'fe80::1', 'FEBF::1', 'hostname', '']) assert.ok(!isReachableAddress(no), no);
  });

  it('dhcpd_leases: Ethernet leases with their MACs normalised; other hardware types and garbage skipped', () => {
    assert.deepEqual(parseDhcpdLeases(LEASES), [
      { ip: '192.168.64.3', mac: '02:54:00:0a:0b:0c', expires: NOW - 3600 },
      { ip: '192.168.64.9', mac: '02:54:00:0a:0b:0c', expires: NOW + 80_000 },
      { ip: '192.168.64.4', mac: '02:54:00:0a:0b:0d', expires: NOW - 1 },
    ]);
    assert.deepEqual(parseDhcpdLeases(''), []);
  });

  it('a lease lookup gives the newest unexpired lease of each MAC, and nothing for an expired one', () => {
    const leases = parseDhcpdLeases(LEASES);
    assert.deepEqual(leaseAddressesOf(leases, ['02:54:00:0A:0B:0C'], NOW), ['192.168.64.9']);
    assert.deepEqual(leaseAddressesOf(leases, ['02:54:00:0a:0b:0d'], NOW), [], 'expired: no guess');
    assert.deepEqual(leaseAddressesOf(leases, ['52:54:00:99:99:99'], NOW), []);
  });

  it('reads the leases file, and a missing file is no address', async () => {
    const path = dir.file('dhcpd_leases');
    writeFileSync(path, LEASES);
    assert.deepEqual(await leaseAddresses(['2:54:0:a:b:c'], path, NOW * 1000), ['192.168.64.9']);
    assert.deepEqual(await leaseAddresses(['2:54:0:a:b:c'], dir.file('missing'), NOW * 1000), []);
  });

  it('/proc/net/arp: complete entries only, matched by MAC', async () => {
    assert.deepEqual(parseProcNetArp(ARP), [
      { ip: '192.168.1.1', mac: '00:11:22:33:44:55' },
      { ip: '192.168.1.23', mac: '52:54:00:0a:0b:0c' },
      { ip: '192.168.1.26', mac: '52:54:00:0a:0b:0c' },
    ]);
    const path = dir.file('arp');
    writeFileSync(path, ARP);
    assert.deepEqual(await neighbourAddresses(['52:54:00:0a:0b:0c'], path), ['192.168.1.23', '192.168.1.26']);
    assert.deepEqual(await neighbourAddresses(['52:54:00:0a:0b:0d'], path), [], 'an incomplete entry is no address');
    assert.deepEqual(await neighbourAddresses(['52:54:00:0a:0b:0c'], dir.file('missing')), []);
  });

  it("guest agent interfaces: only the VM's own NICs (by MAC), without loopback and link-local", () => {
    const interfaces = [
      { name: 'lo', 'hardware-address': '00:00:00:00:00:00', 'ip-addresses': [{ 'ip-address-type': 'ipv4' as const, 'ip-address': '127.0.0.1', prefix: 8 }] },
      {
        name: 'eth0',
        'hardware-address': '52:54:00:AB:CD:01',
        'ip-addresses': [
          { 'ip-address-type': 'ipv4' as const, 'ip-address': '10.0.2.15', prefix: 24 },
          { 'ip-address-type': 'ipv6' as const, 'ip-address': 'fe80::5054:ff:feab:cd01', prefix: 64 },
          { 'ip-address-type': 'ipv6' as const, 'ip-address': 'fec0::5054:ff:feab:cd01', prefix: 64 },
        ],
      },
      { name: 'docker0', 'hardware-address': '02:42:ac:11:00:01', 'ip-addresses': [{ 'ip-address-type': 'ipv4' as const, 'ip-address': '172.17.0.1', prefix: 16 }] },
      { name: 'eth1', 'hardware-address': '52:54:00:ab:cd:02' },
    ];
    assert.deepEqual(addressesOfInterfaces(interfaces, ['52:54:00:ab:cd:01', '52:54:00:ab:cd:02']), ['10.0.2.15', 'fec0::5054:ff:feab:cd01']);
    assert.deepEqual(addressesOfInterfaces(interfaces, []), []);
  });
});

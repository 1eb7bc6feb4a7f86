import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { QemuDriver } from '../../src/hypervisor/drivers/qemu/qemu.driver';
import { VmConfig } from '../../src/hypervisor/hypervisor-driver';
import { ScratchDir } from '../support/scratch-dir';
import { eventually } from '../support/wait';
import {
  buildInitramfs,
  consoleText,
  EventLog,
  isAlive,
  ProcessTracker,
  qemuConfig,
  requireKernel,
  requirePowerButtonModules,
  requireQemu,
  waitForConsole,
} from './qemu-fixture';

/**
 * KBOOT VMs with the host's Debian kernel and a tiny busybox initramfs built here. The
 * kernel command line picks what /init does: print a marker and power off, or wait for the
 * ACPI power button and then power off.
 */

const INIT = `
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox mount -t proc proc /proc
for a in $(/bin/busybox cat /proc/cmdline); do case $a in velocity.mode=*) mode=\${a#velocity.mode=};; esac; done
echo VELOCITY-KBOOT-MARKER > /dev/ttyS0
if [ "$mode" = acpi ]; then
  /bin/busybox insmod /evdev.ko
  /bin/busybox insmod /button.ko
  ev=$(/bin/busybox awk '/^N: Name="Power Button"/{f=1} f&&/^H: Handlers=/{for(i=1;i<=NF;i++) if ($i ~ /^event/) {print $i; exit}}' /proc/bus/input/devices)
  # Open the device before saying so: evdev keeps events only for readers that have it open.
  exec 3< /dev/input/$ev
  echo "VELOCITY-WAITING $ev" > /dev/ttyS0
  /bin/busybox dd of=/dev/null bs=24 count=1 <&3 2>/dev/null
  echo VELOCITY-POWER-BUTTON > /dev/ttyS0
fi
/bin/busybox poweroff -f
`;

const BOOT_TIMEOUT_MS = 90_000;

describe('qemu driver: KBOOT VMs under TCG', () => {
  const processes = new ProcessTracker();
  const shared = new ScratchDir();
  const dirs: ScratchDir[] = [];
  let driver: QemuDriver;
  let log: EventLog;
  let kernel: string;
  let initrd: string;
  let hostSocket: Server | undefined;

  before(async () => {
    requireQemu();
    kernel = requireKernel();
    initrd = shared.file('initrd.cpio');
    writeFileSync(initrd, buildInitramfs(INIT, requirePowerButtonModules(kernel)));
    driver = await QemuDriver.open({ accel: 'tcg', stopGraceMs: 3_000 });
    log = new EventLog(driver);
  });

  after(async () => {
    log?.dispose();
    await driver?.close();
    processes.killAll();
    hostSocket?.close();
    for (const dir of dirs) dir.cleanup();
    shared.cleanup();
  });

  function kbootConfig(mode: string, overrides: Partial<VmConfig> = {}): VmConfig {
    const dir = new ScratchDir();
    dirs.push(dir);
    return qemuConfig(dir, {
      type: 'KBOOT',
      kboot: { kernel, initrd, cmdline: `console=ttyS0 quiet velocity.mode=${mode}` },
      ...overrides,
    });
  }

  it('a guest that prints a marker and powers itself off: the marker on the console, STOPPED without a request', async () => {
    // The host side of a FILEHANDLE NIC: any socket file will do for QEMU to start.
    hostSocket = createServer();
    const hostPath = shared.file('host.sock');
    await new Promise<void>((resolve) => hostSocket!.listen(hostPath, resolve));
    const config = kbootConfig('poweroff', {
      nics: [
        { type: 'NAT', mac: '52:54:00:ab:cd:01' },
        { type: 'FILEHANDLE', socket: hostPath },
      ],
      disks: [{ path: shared.blankDisk('ro.raw', 1), read_only: true }],
      displays: [{ width: 640, height: 480 }],
    });
    const id = 'kboot-poweroff';
    await driver.create(id, config);
    await driver.start(id);
    const pid = driver.pid(id)!;
    processes.track(pid);
    assert.ok(statSync(`${config.directory}/nic1.sock`).isSocket(), "QEMU bound its end of the FILEHANDLE NIC");
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    assert.ok(argv.some((a) => a.includes('mac=52:54:00:ab:cd:01')), 'the configured MAC');

    await log.waitFor((e) => e.vmId === id && e.type === 'state' && e.state === 'STOPPED', 'STOPPED', BOOT_TIMEOUT_MS);
    assert.match(consoleText(config.console.output), /VELOCITY-KBOOT-MARKER/);
    assert.equal(driver.state(id), 'STOPPED');
    assert.deepEqual(log.states(id), ['STARTING', 'RUNNING', 'STOPPING', 'STOPPED']);
    assert.deepEqual(log.errors(id), [], 'a guest power-off is no error');
    await eventually(() => !isAlive(pid), 'QEMU to be gone', 5_000);
  });

  it('requestStop: STOPPING once the ACPI power button is pressed, STOPPED when the guest has powered off', async () => {
    const config = kbootConfig('acpi');
    const id = 'kboot-acpi';
    await driver.create(id, config);
    await driver.start(id);
    processes.track(driver.pid(id));
    await waitForConsole(config.console.output, /VELOCITY-WAITING event\d+/, BOOT_TIMEOUT_MS);
    await driver.requestStop(id);
    assert.equal(driver.state(id), 'STOPPING');
    await log.waitFor((e) => e.vmId === id && e.type === 'state' && e.state === 'STOPPED', 'STOPPED', 60_000);
    assert.equal(driver.state(id), 'STOPPED');
    assert.match(consoleText(config.console.output), /VELOCITY-POWER-BUTTON/);
    assert.deepEqual(log.states(id), ['STARTING', 'RUNNING', 'STOPPING', 'STOPPED']);
    assert.deepEqual(log.errors(id), []);
    assert.ok(!existsSync(`${config.directory}/qemu.pid`), 'QEMU removed its pid file');
  });
});

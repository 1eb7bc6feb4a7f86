import { join } from 'node:path';

/** Where the qemu driver keeps a VM's runtime files, all inside VmConfig.directory. */
export interface QemuVmFiles {
  /** QMP (control) socket. */
  qmpSocket: string;
  /** QEMU's VNC server (display 0), one connection per viewer; never a TCP port. */
  vncSocket: string;
  /** Written by QEMU (-pidfile), removed by QEMU when it exits cleanly. */
  pidFile: string;
  /** QEMU's own stderr (warnings, fatal errors), rewritten at every start. */
  stderrLog: string;
  /** Per-VM copy of the firmware's variable store (pflash unit 1), made once. */
  efiVars: string;
  /**
   * Base path of the serial port's `pipe` chardev: QEMU opens `<base>.in` and `<base>.out`.
   * `.in` is a symlink to console.input, `.out` a symlink to /dev/null (see QemuInstance).
   */
  serialBase: string;
  serialIn: string;
  serialOut: string;
  /** The host end of the guest agent's virtio-serial port (QEMU listens on it). */
  agentSocket: string;
  /** The local end of FILEHANDLE NIC `index` (QEMU binds it). */
  nicSocket(index: number): string;
}

export function vmFiles(directory: string): QemuVmFiles {
  return {
    qmpSocket: join(directory, 'qmp.sock'),
    vncSocket: join(directory, 'vnc.sock'),
    pidFile: join(directory, 'qemu.pid'),
    stderrLog: join(directory, 'qemu-stderr.log'),
    efiVars: join(directory, 'efi-vars.fd'),
    serialBase: join(directory, 'serial'),
    serialIn: join(directory, 'serial.in'),
    serialOut: join(directory, 'serial.out'),
    agentSocket: join(directory, 'qga.sock'),
    nicSocket: (index: number) => join(directory, `nic${index}.sock`),
  };
}

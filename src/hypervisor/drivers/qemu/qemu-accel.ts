import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QemuAccel } from '../../../config/app-config';
import { Accelerator } from '../../hypervisor-driver';
import { DriverUnavailableError } from '../../hypervisor.errors';
import { QemuInstallation } from './qemu-host';
import { connectWhenReady, isPidAlive, sleep } from './qemu-process';
import { QmpClient } from './qmp-client';

export interface AcceleratorChoice {
  accelerator: Accelerator;
  /** Why: for the log and the health answer. */
  reason: string;
}

export interface KvmProbeOptions {
  /** The KVM device checked before anything is started. */
  kvmDevice?: string;
  /** How long the probe VM must keep running under KVM. */
  runMs?: number;
  /** Bound for the whole probe. */
  timeoutMs?: number;
}

export type KvmProbeResult = { usable: true } | { usable: false; reason: string };

/** Signs in QEMU's stderr that KVM cannot really run guests here. */
const KVM_FAILURE = /KVM internal error|emulation failure|failed to initialize kvm|Could not access KVM|kvm_init_vcpu|KVM_[A-Z_]+ failed/i;

/**
 * Whether KVM really runs guests on this host. A /dev/kvm that opens is not enough (nested
 * setups fail at run time with "KVM internal error"), so this starts a small VM under KVM —
 * the real firmware when installed (SEC/PEI/DXE exercise real mode, long mode and MMIO),
 * else QEMU's default firmware — lets it run for `runMs`, and checks that QEMU is alive,
 * QMP says "running" and stderr shows no KVM failure.
 */
export async function probeKvm(installation: QemuInstallation, options: KvmProbeOptions = {}): Promise<KvmProbeResult> {
  const kvmDevice = options.kvmDevice ?? '/dev/kvm';
  try {
    accessSync(kvmDevice, constants.R_OK | constants.W_OK);
  } catch (err) {
    return { usable: false, reason: `${kvmDevice} is not usable (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
  }
  const runMs = options.runMs ?? 1500;
  const timeoutMs = options.timeoutMs ?? 15_000;
  const dir = await mkdtemp(join(tmpdir(), 'velocity-kvm-probe-'));
  const qmpPath = join(dir, 'qmp.sock');
  const args = [
    '-nodefaults',
    '-no-user-config',
    '-machine',
    installation.arch === 'x86_64' ? 'q35' : 'virt,gic-version=max',
    '-accel',
    'kvm',
    '-cpu',
    'host',
    '-m',
    '128M',
    '-smp',
    '1',
    '-display',
    'none',
    '-S',
    '-chardev',
    `socket,id=qmp,path=${qmpPath.replace(/,/g, ',,')},server=on,wait=off`,
    '-mon',
    'chardev=qmp,mode=control',
  ];
  let stderr = '';
  let exited = false;
  let qmp: QmpClient | undefined;
  const child = spawn(installation.binary, args.concat(await probeFirmwareArgs(installation, dir)), {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-8192)));
  const exit = new Promise<void>((resolve) => {
    // 'close', not 'exit': stderr has been read to the end by then.
    child.once('close', () => {
      exited = true;
      resolve();
    });
    child.once('error', (err) => {
      stderr += `\n${err.message}`;
      exited = true;
      resolve();
    });
  });
  const failure = (what: string): KvmProbeResult => {
    const lines = stderr.trim().split('\n').filter(Boolean).slice(-3).join(' | ');
    return { usable: false, reason: lines ? `${what}: ${lines}` : what };
  };
  try {
    try {
      qmp = await connectWhenReady(qmpPath, timeoutMs, () => exited);
    } catch (err) {
      return failure(`the KVM probe VM did not start (${(err as Error).message})`);
    }
    await qmp.execute('cont');
    await sleep(runMs);
    if (exited) return failure('the KVM probe VM died');
    const status = await qmp.execute<{ status: string }>('query-status');
    if (status.status !== 'running') return failure(`the KVM probe VM is "${status.status}", not running`);
    if (KVM_FAILURE.test(stderr)) return failure('KVM reported an error');
    return { usable: true };
  } catch (err) {
    return failure(`the KVM probe failed (${(err as Error).message})`);
  } finally {
    qmp?.close();
    if (!exited && child.pid !== undefined && isPidAlive(child.pid)) child.kill('SIGKILL');
    await exit;
    await rm(dir, { recursive: true, force: true });
  }
}

async function probeFirmwareArgs(installation: QemuInstallation, dir: string): Promise<string[]> {
  if (!installation.firmware) return [];
  const vars = join(dir, 'vars.fd');
  await copyFile(installation.firmware.varsTemplate, vars);
  return [
    '-drive',
    `if=pflash,format=raw,unit=0,readonly=on,file=${installation.firmware.code.replace(/,/g, ',,')}`,
    '-drive',
    `if=pflash,format=raw,unit=1,file=${vars.replace(/,/g, ',,')}`,
  ];
}

/**
 * VELOCITY_QEMU_ACCEL → the accelerator: `tcg` and `kvm` as told (kvm needs an accessible
 * /dev/kvm), `auto` KVM only when the probe VM really runs under it, else TCG.
 */
export async function chooseAccelerator(
  setting: QemuAccel,
  installation: QemuInstallation,
  options: KvmProbeOptions = {},
): Promise<AcceleratorChoice> {
  const kvmDevice = options.kvmDevice ?? '/dev/kvm';
  switch (setting) {
    case 'tcg':
      return { accelerator: 'tcg', reason: 'VELOCITY_QEMU_ACCEL=tcg' };
    case 'kvm':
      try {
        accessSync(kvmDevice, constants.R_OK | constants.W_OK);
      } catch (err) {
        throw new DriverUnavailableError(
          `VELOCITY_QEMU_ACCEL=kvm, but ${kvmDevice} is not usable (${(err as NodeJS.ErrnoException).code ?? 'error'}); ` +
            'use auto or tcg, or give this user access to /dev/kvm (group kvm)',
        );
      }
      return { accelerator: 'kvm', reason: 'VELOCITY_QEMU_ACCEL=kvm' };
    case 'auto': {
      const probe = await probeKvm(installation, options);
      if (probe.usable) return { accelerator: 'kvm', reason: 'auto: a probe VM ran under KVM' };
      return { accelerator: 'tcg', reason: `auto: KVM not usable, using TCG (software emulation): ${probe.reason}` };
    }
  }
}

import { Command, InvalidArgumentError, Option } from 'commander';
import { Client } from '../../clients/typescript/src/client';
import {
  cloneVm,
  createEfiVm,
  createKbootVm,
  createMacVm,
  deleteVm,
  DisplayDto,
  getConsoleOutput,
  getVm,
  getVmState,
  listCatalogs,
  listVms,
  requestVmState,
  sendConsoleInput,
  VmDto,
} from '../../clients/typescript/src';
import { action, allPages, collect, Context, PAGE_SIZE, positiveInteger } from '../context';
import { Column } from '../output';
import { CliError, ExitCode } from '../exit-codes';
import { watch, WatchOptions } from './vm-watch';

const VM_COLUMNS: Column<VmDto>[] = [
  ['VMID', (vm) => vm.vmid],
  ['NAME', (vm) => vm.name],
  ['TYPE', (vm) => vm.type],
  ['STATE', (vm) => vm.state],
  ['CPUS', (vm) => vm.cpu_count],
  ['MEMORY MB', (vm) => vm.memory_size_mb],
  ['CATALOG', (vm) => vm.catalog],
];

async function vmsOfCatalog(ctx: Context, client: Client, cid: string): Promise<VmDto[]> {
  return allPages(async (offset) => {
    const page = await ctx.call(listVms({ client, query: { cid, offset, limit: PAGE_SIZE } }));
    return { items: page.vms, total: page.total };
  });
}

/** `1024x768` → a display of that size. */
function display(value: string, previous: DisplayDto[] = []): DisplayDto[] {
  const match = /^([0-9]+)x([0-9]+)$/.exec(value);
  if (!match) throw new InvalidArgumentError('expected WIDTHxHEIGHT, e.g. 1920x1080');
  return [...previous, { width: Number(match[1]), height: Number(match[2]) }];
}

interface CreateOptions {
  catalog: string;
  name: string;
  type: 'efi' | 'kboot' | 'mac';
  cpus: number;
  memory: number;
  disk?: string[];
  nic?: string[];
  display?: DisplayDto[];
  autostart?: boolean;
  kernel?: string;
  initrd?: string;
  cmdline?: string;
  restoreImage?: string;
}

async function create(ctx: Context, _args: string[], options: CreateOptions): Promise<void> {
  const client = await ctx.client();
  const common = {
    name: options.name,
    catalog: options.catalog,
    cpu_count: options.cpus,
    memory_size_mb: options.memory,
    storage_devices: options.disk,
    nics: options.nic,
    displays: options.display,
    autostart: options.autostart,
  };
  let created: { vmid: string };
  if (options.type === 'kboot') {
    if (!options.kernel) throw new CliError(ExitCode.USAGE, 'a KBOOT VM needs --kernel <stid>');
    created = await ctx.call(createKbootVm({ client, body: { ...common, kernel: options.kernel, initrd: options.initrd, cmdline: options.cmdline } }));
  } else if (options.type === 'mac') {
    created = await ctx.call(createMacVm({ client, body: { ...common, restore_image: options.restoreImage } }));
  } else {
    created = await ctx.call(createEfiVm({ client, body: common }));
  }
  ctx.out.done(`created VM ${options.name}: ${created.vmid}`, created);
}

/**
 * Asks for a state and reports the answer: 200 when the VM got there, 208 when it already was
 * there (still success), STOPPING when a graceful stop outlasted the server's wait.
 */
async function changeState(ctx: Context, vmid: string, state: 'RUNNING' | 'PAUSED' | 'STOPPED', force = false): Promise<void> {
  const client = await ctx.client();
  const { data, status } = await ctx.callWithStatus(requestVmState({ client, body: { vmid, state, force } }));
  ctx.out.done(status === 208 ? `VM ${vmid} already is ${data.state}` : `VM ${vmid} is ${data.state}`, data);
}

export function vmCommand(): Command {
  const vm = new Command('vm').description('virtual machines');

  vm.command('list')
    .description('VMs of one catalog, or of every catalog you can see')
    .option('-c, --catalog <cid>', 'only this catalog')
    .action(
      action<{ catalog?: string }>(async (ctx, _args, options) => {
        const client = await ctx.client();
        let cids = options.catalog ? [options.catalog] : [];
        if (!options.catalog) {
          const catalogs = await allPages(async (offset) => {
            const page = await ctx.call(listCatalogs({ client, query: { offset, limit: PAGE_SIZE } }));
            return { items: page.catalogs, total: page.total };
          });
          cids = catalogs.map((catalog) => catalog.cid);
        }
        const vms: VmDto[] = [];
        for (const cid of cids) vms.push(...(await vmsOfCatalog(ctx, client, cid)));
        ctx.out.table(vms, VM_COLUMNS);
      }),
    );

  vm.command('show')
    .description("a VM's definition and state")
    .argument('<vmid>')
    .action(
      action(async (ctx, [vmid]) => {
        ctx.out.record(await ctx.call(getVm({ client: await ctx.client(), query: { vmid } })));
      }),
    );

  vm.command('create')
    .description('define a VM (STOPPED until started)')
    .requiredOption('-c, --catalog <cid>', 'catalog to create it in')
    .requiredOption('-n, --name <name>', 'its name, unique in the catalog')
    .addOption(new Option('-t, --type <type>', 'how it boots').choices(['efi', 'kboot', 'mac']).default('efi'))
    .option('--cpus <count>', 'virtual CPUs', positiveInteger, 1)
    .option('--memory <MiB>', 'memory in MiB', positiveInteger, 512)
    .option('--disk <stid>', 'attach a storage image (repeatable, in boot order)', collect)
    .option('--nic <nicid>', 'attach a NIC (repeatable)', collect)
    .option('--display <WxH>', 'add a display (repeatable)', display)
    .option('--autostart', 'start it whenever the server starts')
    .option('--kernel <stid>', 'KBOOT: the kernel image')
    .option('--initrd <stid>', 'KBOOT: the initial RAM disk')
    .option('--cmdline <text>', 'KBOOT: the kernel command line')
    .option('--restore-image <stid>', 'MAC: the restore image to install from')
    .action(action<CreateOptions>(create));

  vm.command('start')
    .description('start (RUNNING)')
    .argument('<vmid>')
    .action(action(async (ctx, [vmid]) => changeState(ctx, vmid, 'RUNNING')));

  vm.command('stop')
    .description('stop (STOPPED): ask the guest to power off, or pull the plug with --force')
    .argument('<vmid>')
    .option('-f, --force', 'stop at once, without asking the guest')
    .action(action<{ force?: boolean }>(async (ctx, [vmid], options) => changeState(ctx, vmid, 'STOPPED', options.force === true)));

  vm.command('pause')
    .description('pause (PAUSED)')
    .argument('<vmid>')
    .action(action(async (ctx, [vmid]) => changeState(ctx, vmid, 'PAUSED')));

  vm.command('resume')
    .description('resume a PAUSED VM (RUNNING); refuses to boot a stopped one')
    .argument('<vmid>')
    .action(
      action(async (ctx, [vmid]) => {
        // The API has one request for both (RUNNING); resuming must not boot a stopped VM.
        const { state } = await ctx.call(getVmState({ client: await ctx.client(), query: { vmid } }));
        if (state === 'STOPPED') throw new CliError(ExitCode.CONFLICT, `VM ${vmid} is STOPPED, not paused: use \`velocity vm start\``, 'STATE_CHANGE_NOT_ALLOWED');
        await changeState(ctx, vmid, 'RUNNING');
      }),
    );

  vm.command('state')
    .description("a VM's current state")
    .argument('<vmid>')
    .action(
      action(async (ctx, [vmid]) => {
        const state = await ctx.call(getVmState({ client: await ctx.client(), query: { vmid } }));
        ctx.out.done(state.state, state);
      }),
    );

  vm.command('delete')
    .description('delete a VM (it must be stopped unless --force)')
    .argument('<vmid>')
    .option('-f, --force', 'stop it first if it runs')
    .action(
      action<{ force?: boolean }>(async (ctx, [vmid], options) => {
        const deleted = await ctx.call(deleteVm({ client: await ctx.client(), body: { vmid, force: options.force } }));
        ctx.out.done(`deleted VM ${vmid}`, deleted);
      }),
    );

  vm.command('console')
    .description("print the recent serial console output, or type on it with --send")
    .argument('<vmid>')
    .option('-s, --send <text>', 'send this text (add \\n yourself for Enter: --send $\'root\\n\')')
    .option('-b, --bytes <count>', 'how much of the recent output (default: the server\'s, 64 KiB)', positiveInteger)
    .action(
      action<{ send?: string; bytes?: number }>(async (ctx, [vmid], options) => {
        const client = await ctx.client();
        if (options.send !== undefined) {
          const sent = await ctx.call(sendConsoleInput({ client, body: { vmid, input: options.send } }));
          return ctx.out.done(`sent ${Buffer.byteLength(options.send)} bytes to VM ${vmid}`, sent);
        }
        const console = await ctx.call(getConsoleOutput({ client, query: { vmid, bytes: options.bytes } }));
        if (ctx.out.json) ctx.out.record(console);
        else process.stdout.write(console.output);
      }),
    );

  vm.command('watch')
    .description('print what happens to the VMs you may view as it happens (state changes with their cause, creations, changes, deletions, errors)')
    .option('-c, --catalog <cid>', 'only this catalog')
    .option('--vm <vmid>', 'only this VM')
    .option('-n, --count <events>', 'stop after this many events', positiveInteger)
    .action(action<WatchOptions>(async (ctx, _args, options) => watch(ctx, options)));

  vm.command('clone')
    .description('copy a stopped VM, with copies of its writable disks')
    .argument('<vmid>')
    .requiredOption('-n, --name <name>', "the copy's name")
    .option('-c, --catalog <cid>', "the copy's catalog (default: the original's)")
    .action(
      action<{ name: string; catalog?: string }>(async (ctx, [vmid], options) => {
        const client = await ctx.client();
        const catalog = options.catalog ?? (await ctx.call(getVm({ client, query: { vmid } }))).catalog;
        const copy = await ctx.call(cloneVm({ client, body: { vmid, catalog, name: options.name } }));
        ctx.out.done(`cloned VM ${vmid} as ${copy.name}: ${copy.vmid}`, copy);
      }),
    );

  return vm;
}

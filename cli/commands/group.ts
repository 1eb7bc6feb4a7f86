import { Command, InvalidArgumentError } from 'commander';
import { getGroupQuota, GroupQuotaDto, setGroupQuota } from '../../clients/typescript/src';
import { action, wholeNumber } from '../context';
import { CliError, ExitCode } from '../exit-codes';

const LIMITS = ['vms', 'vcpus', 'memory', 'storage'] as const;
type Limit = (typeof LIMITS)[number];

const UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** `10737418240`, `10G`, `10GiB`, `512M` → bytes (binary units, as the sizes of images are). */
function bytes(value: string): number {
  const match = /^([0-9]+)\s*([KMGT]?)(?:i?B)?$/i.exec(value.trim());
  const count = match ? Number(match[1]) * UNITS[match[2].toUpperCase()] : NaN;
  if (!Number.isSafeInteger(count)) throw new InvalidArgumentError('expected bytes, or a size such as 512M, 10G or 2T (binary units)');
  return count;
}

/** Each use of --clear names one limit to remove. */
function limitName(value: string, previous: Limit[] = []): Limit[] {
  if (!(LIMITS as readonly string[]).includes(value)) throw new InvalidArgumentError(`unknown limit ${value}; one of ${LIMITS.join(', ')}`);
  return [...previous, value as Limit];
}

/** `21474836480` bytes → `20.0 GiB`, as people read storage. */
function humanBytes(count: number): string {
  const unit = (['T', 'G', 'M', 'K'] as const).find((name) => count >= UNITS[name]);
  return unit ? `${(count / UNITS[unit]).toFixed(1)} ${unit}iB` : `${count} B`;
}

/** One row per limit: its use and its limit (`-` when there is none), storage in bytes with a readable size. */
function showQuota(quota: GroupQuotaDto): Array<{ name: Limit; used: string; limit: string }> {
  const shown = (name: Limit, value: number): string => (name === 'storage' ? `${value} (${humanBytes(value)})` : String(value));
  return LIMITS.map((name) => {
    const limit = quota.limits[name];
    return { name, used: shown(name, quota.used[name]), limit: limit === null ? '-' : shown(name, limit) };
  });
}

const UNIT_OF: Record<Limit, string> = { vms: 'VMs', vcpus: 'virtual CPUs', memory: 'MiB', storage: 'bytes' };

interface SetOptions {
  vms?: number;
  vcpus?: number;
  memory?: number;
  storage?: number;
  clear?: Limit[];
}

export function groupCommand(): Command {
  const group = new Command('group').description('groups');

  const quota = group
    .command('quota')
    .description("a group's limits and what it uses now (usermanager, or a member of the group); `quota set` changes them")
    .argument('<group>', 'its name or gid')
    .action(
      action(async (ctx, [name]) => {
        const client = await ctx.client();
        const gid = await ctx.groupId(client, name);
        const found = await ctx.call(getGroupQuota({ client, query: { gid } }));
        ctx.out.table(
          showQuota(found),
          [
            ['LIMIT', (row) => row.name],
            ['UNIT', (row) => UNIT_OF[row.name]],
            ['USED', (row) => row.used],
            ['MAX', (row) => row.limit],
          ],
          found,
        );
      }),
    );

  quota
    .command('set')
    .description("set or remove a group's limits (usermanager; the root group's only root); limits not named stay")
    .argument('<group>', 'its name or gid')
    .option('--vms <n>', 'VMs in the catalogs the group owns', wholeNumber)
    .option('--vcpus <n>', 'virtual CPUs of those VMs, summed', wholeNumber)
    .option('--memory <MiB>', 'memory of those VMs in MiB, summed', wholeNumber)
    .option('--storage <size>', 'bytes of the group\'s storage images, summed: bytes or e.g. 500G, 2T', bytes)
    .option('--clear <limit>', `remove a limit: ${LIMITS.join(', ')} (repeatable)`, limitName)
    .action(
      action<SetOptions>(async (ctx, [name], options) => {
        const cleared = options.clear ?? [];
        const both = cleared.filter((limit) => options[limit] !== undefined);
        if (both.length) throw new CliError(ExitCode.USAGE, `${both.join(', ')}: both set and cleared`);
        const changes = Object.fromEntries([
          ...LIMITS.filter((limit) => options[limit] !== undefined).map((limit) => [limit, options[limit]]),
          ...cleared.map((limit) => [limit, null]),
        ]);
        if (Object.keys(changes).length === 0) throw new CliError(ExitCode.USAGE, `nothing to change: give --${LIMITS.join(', --')} or --clear`);
        const client = await ctx.client();
        const gid = await ctx.groupId(client, name);
        const changed = await ctx.call(setGroupQuota({ client, body: { gid, ...changes } }));
        const limits = LIMITS.map((limit) => `${limit} ${changed.limits[limit] ?? '-'}`).join(', ');
        ctx.out.done(`the limits of group ${gid}: ${limits}`, changed);
      }),
    );

  return group;
}

import { SingleBar } from 'cli-progress';
import { Command, Option } from 'commander';
import { openAsBlob, statSync } from 'node:fs';
import { basename } from 'node:path';
import { cloneStorage, createStorage, deleteStorage, getStorage, listStorage, StorageDto, uploadStorage } from '../../clients/typescript/src';
import { action, allPages, PAGE_SIZE, positiveInteger } from '../context';
import { CliError, ExitCode } from '../exit-codes';
import { Column } from '../output';

const STORAGE_COLUMNS: Column<StorageDto>[] = [
  ['STID', (s) => s.stid],
  ['NAME', (s) => s.name],
  ['FORMAT', (s) => s.format],
  ['SIZE MiB', (s) => (s.size_bytes / 2 ** 20).toFixed(1)],
  ['READ-ONLY', (s) => (s.read_only ? 'yes' : 'no')],
  ['TEMPLATE', (s) => (s.template ? 'yes' : 'no')],
  ['GROUP', (s) => s.gid],
];

/**
 * The fetch the SDK sends an upload with: the request body (the file, read as fetch sends it)
 * passes through a counter on its way out, so the bar shows bytes handed to the network.
 * A stream body needs `duplex: 'half'` in Node's fetch.
 */
function countingFetch(onBytes: (count: number) => void): typeof fetch {
  return (input, init) => {
    const request = new Request(input, init);
    if (!request.body) return fetch(request);
    const counted = request.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          onBytes(chunk.byteLength);
          controller.enqueue(chunk);
        },
      }),
    );
    return fetch(new Request(request, { body: counted, duplex: 'half' }));
  };
}

interface UploadOptions {
  group: string;
  name?: string;
  format: 'raw' | 'iso';
  readOnly?: boolean;
  progress?: boolean;
}

export function storageCommand(): Command {
  const storage = new Command('storage').description('storage images: disks and installer ISOs');

  storage
    .command('list')
    .description('the images of your groups')
    .action(
      action(async (ctx) => {
        const client = await ctx.client();
        const images = await allPages(async (offset) => {
          const page = await ctx.call(listStorage({ client, query: { offset, limit: PAGE_SIZE } }));
          return { items: page.storage, total: page.total };
        });
        ctx.out.table(images, STORAGE_COLUMNS);
      }),
    );

  storage
    .command('show')
    .description('one image')
    .argument('<stid>')
    .action(
      action(async (ctx, [stid]) => {
        ctx.out.record(await ctx.call(getStorage({ client: await ctx.client(), query: { stid } })));
      }),
    );

  storage
    .command('create')
    .description('create a blank (sparse) raw disk')
    .requiredOption('-g, --group <group>', 'owning group: its name or gid')
    .requiredOption('-n, --name <name>', "the image's name")
    .requiredOption('-s, --size <MiB>', 'size in MiB', positiveInteger)
    .action(
      action<{ group: string; name: string; size: number }>(async (ctx, _args, options) => {
        const client = await ctx.client();
        const group = await ctx.groupId(client, options.group);
        const created = await ctx.call(createStorage({ client, body: { group, name: options.name, size_mb: options.size } }));
        ctx.out.done(`created ${created.name}: ${created.stid}`, created);
      }),
    );

  storage
    .command('upload')
    .description('upload an image file (streamed, with a progress bar on a terminal)')
    .argument('<file>')
    .requiredOption('-g, --group <group>', 'owning group: its name or gid')
    .option('-n, --name <name>', "the image's name (default: the file's name)")
    .addOption(new Option('-f, --format <format>', 'raw disk or installer ISO (always read-only)').choices(['raw', 'iso']).default('raw'))
    .option('--read-only', 'attach it read-only')
    .option('--progress', 'show the progress bar even when stderr is not a terminal')
    .option('--no-progress', 'no progress bar')
    .action(
      action<UploadOptions>(async (ctx, [file], options) => {
        let size: number;
        try {
          size = statSync(file).size;
        } catch (error) {
          throw new CliError(ExitCode.USAGE, `cannot read ${file}: ${(error as Error).message}`);
        }
        const client = await ctx.client();
        const group = await ctx.groupId(client, options.group);
        const showBar = options.progress ?? (process.stderr.isTTY && !ctx.out.json);
        const bar = new SingleBar({
          stream: process.stderr,
          format: 'upload |{bar}| {percentage}% | {value}/{total} bytes | ETA {eta_formatted}',
          noTTYOutput: true,
          notTTYSchedule: 1000,
          hideCursor: true,
        });
        let sent = 0;
        if (showBar) bar.start(size, 0);
        try {
          const uploaded = await ctx.call(
            uploadStorage({
              client,
              query: { group, name: options.name ?? basename(file), format: options.format, read_only: options.readOnly },
              body: await openAsBlob(file),
              fetch: countingFetch((count) => {
                sent += count;
                if (showBar) bar.update(sent);
              }),
            }),
          );
          ctx.out.done(`uploaded ${file} as ${uploaded.name}: ${uploaded.stid}`, uploaded);
        } finally {
          if (showBar) bar.stop();
        }
      }),
    );

  storage
    .command('clone')
    .description('copy an image (copy-on-write where the filesystem can)')
    .argument('<stid>')
    .requiredOption('-n, --name <name>', "the copy's name")
    .option('-g, --group <group>', "the copy's group: its name or gid (default: the original's)")
    .action(
      action<{ name: string; group?: string }>(async (ctx, [stid], options) => {
        const client = await ctx.client();
        const group = options.group ? await ctx.groupId(client, options.group) : (await ctx.call(getStorage({ client, query: { stid } }))).gid;
        const copy = await ctx.call(cloneStorage({ client, body: { stid, group, name: options.name } }));
        ctx.out.done(`cloned ${stid} as ${copy.name}: ${copy.stid}${copy.cow ? ' (copy-on-write)' : ''}`, copy);
      }),
    );

  storage
    .command('delete')
    .description('delete an image no VM uses')
    .argument('<stid>')
    .action(
      action(async (ctx, [stid]) => {
        const deleted = await ctx.call(deleteStorage({ client: await ctx.client(), body: { stid } }));
        ctx.out.done(`deleted ${stid}`, deleted);
      }),
    );

  return storage;
}

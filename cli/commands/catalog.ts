import { Command, InvalidArgumentError } from 'commander';
import { createCatalog, deleteCatalog, listCatalogs, listShares, PermissionsDto, revokeShare, shareCatalog } from '../../clients/typescript/src';
import { action, allPages, PAGE_SIZE } from '../context';

export const PERMISSIONS = ['view', 'create', 'alter', 'remove', 'state', 'interact', 'manage'] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** `view,state` → those permissions. */
export function permissionList(value: string): Permission[] {
  const names = value.split(',').map((name) => name.trim()).filter(Boolean);
  const unknown = names.filter((name) => !(PERMISSIONS as readonly string[]).includes(name));
  if (unknown.length) throw new InvalidArgumentError(`unknown permission ${unknown.join(', ')}; one of ${PERMISSIONS.join(', ')}`);
  return names as Permission[];
}

const held = (permissions: PermissionsDto): string => PERMISSIONS.filter((name) => permissions[name]).join(',');

export function catalogCommand(): Command {
  const catalog = new Command('catalog').description('catalogs: the folders VMs live in, owned by a group and shared with others');

  catalog
    .command('list')
    .description('the catalogs you can see, with your permissions on each')
    .action(
      action(async (ctx) => {
        const client = await ctx.client();
        const catalogs = await allPages(async (offset) => {
          const page = await ctx.call(listCatalogs({ client, query: { offset, limit: PAGE_SIZE } }));
          return { items: page.catalogs, total: page.total };
        });
        ctx.out.table(catalogs, [
          ['CID', (c) => c.cid],
          ['LABEL', (c) => c.label],
          ['GROUP', (c) => c.groupname],
          ['PERMISSIONS', (c) => held(c.permissions)],
        ]);
      }),
    );

  catalog
    .command('create')
    .description('create a catalog owned by one of your groups')
    .requiredOption('-g, --group <group>', 'owning group: its name or gid')
    .requiredOption('-l, --label <label>', "the catalog's label")
    .action(
      action<{ group: string; label: string }>(async (ctx, _args, options) => {
        const client = await ctx.client();
        const group = await ctx.groupId(client, options.group);
        const created = await ctx.call(createCatalog({ client, body: { group, label: options.label } }));
        ctx.out.done(`created catalog ${options.label}: ${created.cid}`, created);
      }),
    );

  catalog
    .command('delete')
    .description('delete a catalog with its VMs and shares')
    .argument('<cid>')
    .action(
      action(async (ctx, [cid]) => {
        const deleted = await ctx.call(deleteCatalog({ client: await ctx.client(), body: { cid } }));
        ctx.out.done(`deleted catalog ${cid}`, deleted);
      }),
    );

  catalog
    .command('share')
    .description("share a catalog with a group (replacing that group's permissions), revoke it, or list its shares")
    .argument('<cid>')
    .option('-g, --group <group>', 'the group to share with: its name or gid (without it: list the shares)')
    .option('-p, --permissions <list>', `comma-separated: ${PERMISSIONS.join(',')}`, permissionList, ['view'] as Permission[])
    .option('--revoke', "remove the group's share instead")
    .action(
      action<{ group?: string; permissions: Permission[]; revoke?: boolean }>(async (ctx, [cid], options) => {
        const client = await ctx.client();
        if (!options.group) {
          const { shares } = await ctx.call(listShares({ client, query: { cid } }));
          return ctx.out.table(shares, [
            ['GID', (s) => s.gid],
            ['PERMISSIONS', (s) => held(s)],
          ]);
        }
        const gid = await ctx.groupId(client, options.group);
        if (options.revoke) {
          const revoked = await ctx.call(revokeShare({ client, body: { cid, gid } }));
          return ctx.out.done(`revoked the share of catalog ${cid} with group ${gid}`, revoked);
        }
        const grant = Object.fromEntries(PERMISSIONS.map((name) => [name, options.permissions.includes(name)]));
        const share = await ctx.call(shareCatalog({ client, body: { cid, gid, ...grant } }));
        ctx.out.done(`shared catalog ${cid} with group ${gid}: ${held(share)}`, share);
      }),
    );

  return catalog;
}

import { Command, InvalidArgumentError } from 'commander';
import { ApiTokenCatalogDto, ApiTokenDto, createApiToken, listApiTokens, revokeApiToken } from '../../clients/typescript/src';
import { action, unixSeconds } from '../context';
import { Column } from '../output';
import { permissionList } from './catalog';

/** `<cid>:view,state` → that catalog with those permissions; each use of --catalog adds one. */
function catalogScope(value: string, previous: ApiTokenCatalogDto[] = []): ApiTokenCatalogDto[] {
  const colon = value.indexOf(':');
  if (colon < 1) throw new InvalidArgumentError('expected <cid>:<permission,permission,…>, e.g. 3f2a8c1e-…:view,state');
  const permissions = permissionList(value.slice(colon + 1));
  if (permissions.length === 0) throw new InvalidArgumentError(`no permission given for catalog ${value.slice(0, colon)}`);
  return [...previous, { cid: value.slice(0, colon), permissions }];
}

const when = (seconds: number | null): string => (seconds === null ? 'never' : new Date(seconds * 1000).toISOString());

const scope = (token: ApiTokenDto): string =>
  token.catalogs === null ? 'all' : token.catalogs.map((c) => `${c.cid}:${c.permissions.join(',')}`).join(' ');

const TOKEN_COLUMNS: Column<ApiTokenDto>[] = [
  ['ID', (t) => t.id],
  ['NAME', (t) => t.name],
  ['EXPIRES', (t) => when(t.expires)],
  ['READ-ONLY', (t) => (t.read_only ? 'yes' : 'no')],
  ['CATALOGS', (t) => scope(t)],
  ['CREATED', (t) => when(t.created)],
];

interface CreateOptions {
  expires?: number;
  readOnly?: boolean;
  catalog?: ApiTokenCatalogDto[];
}

export function tokenCommand(): Command {
  const token = new Command('token').description('API tokens: credentials for programs (CI jobs, scripts), used with --token or VELOCITY_TOKEN');

  token
    .command('create')
    .description('create a token acting as you (never with more rights than you have); its secret is shown this once')
    .argument('<name>')
    .option('--expires <time>', 'when it stops working: unix seconds or an ISO date or time (default: when revoked)', unixSeconds)
    .option('--read-only', 'only requests that change nothing')
    .option('--catalog <cid:permissions>', 'limit it to this catalog with these permissions, e.g. <cid>:view,state (repeatable)', catalogScope)
    .action(
      action<CreateOptions>(async (ctx, [name], options) => {
        const client = await ctx.client();
        const body = { name, expires: options.expires, read_only: options.readOnly, catalogs: options.catalog };
        const created = await ctx.call(createApiToken({ client, body }));
        ctx.out.done(`created token ${created.name}: ${created.id}\n${created.secret}\nThe secret is shown this once: keep it now (only its hash is kept on the server).`, created);
      }),
    );

  token
    .command('list')
    .description('your tokens (no secrets)')
    .option('-u, --user <uid>', "another user's tokens (root only)")
    .action(
      action<{ user?: string }>(async (ctx, _args, options) => {
        const { tokens } = await ctx.call(listApiTokens({ client: await ctx.client(), query: { uid: options.user } }));
        ctx.out.table(tokens, TOKEN_COLUMNS);
      }),
    );

  token
    .command('revoke')
    .description('revoke a token (yours; root: anyone\'s): it stops working at once')
    .argument('<id>')
    .action(
      action(async (ctx, [id]) => {
        const revoked = await ctx.call(revokeApiToken({ client: await ctx.client(), body: { id } }));
        ctx.out.done(`revoked token ${id}`, revoked);
      }),
    );

  return token;
}

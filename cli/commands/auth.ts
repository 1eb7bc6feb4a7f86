import { Command } from 'commander';
import { login, logout } from '../../clients/typescript/src';
import { action } from '../context';
import { CliError, ExitCode } from '../exit-codes';
import { askHidden, askLine, readStdin } from '../prompt';

interface LoginOptions {
  username?: string;
  passwordStdin?: boolean;
}

export function loginCommand(): Command {
  return new Command('login')
    .description('log in and keep the authkey (renewed while it is used) in the config file, readable by you only')
    .option('-u, --username <name>', 'user name (asked for on a terminal)')
    .option('--password-stdin', 'read the password from standard input (the default when stdin is not a terminal)')
    .action(
      action<LoginOptions>(async (ctx, _args, options) => {
        const interactive = process.stdin.isTTY === true && !options.passwordStdin;
        const username = options.username ?? (interactive ? await askLine('username: ') : undefined);
        if (!username) throw new CliError(ExitCode.USAGE, 'which user? pass --username');
        const password = interactive ? await askHidden(`password for ${username}: `) : await readStdin();
        if (!password) throw new CliError(ExitCode.USAGE, 'no password given');
        const server = ctx.server;
        const authkey = await ctx.call(login({ client: server.anonymous(), body: { username, password } }));
        server.remember(username, authkey);
        ctx.out.done(`logged in to ${server.url} as ${username}`, { url: server.url, username, expires: authkey.expires });
      }),
    );
}

export function logoutCommand(): Command {
  return new Command('logout')
    .description('revoke the authkey on the server and forget it')
    .action(
      action(async (ctx) => {
        const server = ctx.server;
        const kept = server.login;
        if (!kept) throw new CliError(ExitCode.AUTH, `not logged in to ${server.url}`);
        // Forgotten even when the server no longer knows it (expired, revoked).
        try {
          await ctx.call(logout({ client: server.anonymous(), auth: kept.authkey }));
        } finally {
          server.forget();
        }
        ctx.out.done(`logged out of ${server.url}`, { url: server.url, username: kept.username });
      }),
    );
}

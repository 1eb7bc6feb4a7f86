#!/usr/bin/env node
/*
 * velocity — the command-line tool for a Velocity server, built on the generated SDK
 * (clients/typescript). Exit codes: cli/exit-codes.ts and README.md (*SDK and CLI*).
 */
import { Command, CommanderError } from 'commander';
import { auditCommand } from './commands/audit';
import { catalogCommand } from './commands/catalog';
import { loginCommand, logoutCommand } from './commands/auth';
import { groupCommand } from './commands/group';
import { storageCommand } from './commands/storage';
import { tokenCommand } from './commands/token';
import { vmCommand } from './commands/vm';
import { CliError, ExitCode } from './exit-codes';

const VERSION: string = require('../../package.json').version;

function program(): Command {
  return new Command('velocity')
    .description(
      'Manage VMs on a Velocity server.\nThe server: --url, else VELOCITY_URL, else the one you last logged in to.\n' +
        'The credential: an API token from --token or VELOCITY_TOKEN, else the login kept for that server.',
    )
    .version(VERSION)
    .option('--url <url>', 'server URL with its base path, e.g. https://host/velocity')
    .option('--token <secret>', 'an API token (vtk_…) to act with instead of the login; VELOCITY_TOKEN keeps it off the command line')
    .option('--json', 'print JSON (the API\'s own shapes) instead of tables')
    .exitOverride()
    .showHelpAfterError()
    .addCommand(loginCommand())
    .addCommand(logoutCommand())
    .addCommand(vmCommand())
    .addCommand(catalogCommand())
    .addCommand(storageCommand())
    .addCommand(groupCommand())
    .addCommand(tokenCommand())
    .addCommand(auditCommand());
}

/** Prints a failure as `error: CODE: message` (JSON with --json) and returns its exit code. */
function report(error: unknown, json: boolean): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
  const failure = error instanceof CliError ? error : new CliError(ExitCode.SERVER, error instanceof Error ? error.message : String(error));
  if (json) {
    const body = { code: failure.code ?? null, message: failure.message, status: failure.status ?? null, exit: failure.exitCode };
    process.stderr.write(`${JSON.stringify(body)}\n`);
  } else {
    process.stderr.write(`error: ${failure.code ? `${failure.code}: ` : ''}${failure.message}${failure.status ? ` (HTTP ${failure.status})` : ''}\n`);
  }
  return failure.exitCode;
}

async function main(argv: string[]): Promise<number> {
  const root = program();
  try {
    await root.parseAsync(argv);
    return ExitCode.OK;
  } catch (error) {
    return report(error, root.opts().json === true);
  }
}

void main(process.argv).then((code) => {
  process.exitCode = code;
});

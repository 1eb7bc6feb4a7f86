import { Command, InvalidArgumentError, OptionValues } from 'commander';
import { Client } from '../clients/typescript/src/client';
import { listGroups } from '../clients/typescript/src';
import { call, callWithStatus, SdkResult } from './api-call';
import { CliError, ExitCode } from './exit-codes';
import { Output } from './output';
import { Session } from './session';

/** The options every command takes (declared on the root program). */
export interface GlobalOptions {
  url?: string;
  token?: string;
  json?: boolean;
}

/** What a command runs with: the server session, where to print, and SDK calls that throw CliErrors. */
export class Context {
  readonly out: Output;
  private session?: Session;

  constructor(private readonly globals: GlobalOptions) {
    this.out = new Output(globals.json === true);
  }

  /** Opened on first use, so that `--help` and usage errors need no server. */
  get server(): Session {
    this.session ??= Session.open({ url: this.globals.url, token: this.globals.token });
    return this.session;
  }

  client(): Promise<Client> {
    return this.server.authenticated();
  }

  call<T>(pending: Promise<SdkResult<T>>): Promise<T> {
    return call(pending, this.server.url);
  }

  callWithStatus<T>(pending: Promise<SdkResult<T>>): Promise<{ data: T; status: number }> {
    return callWithStatus(pending, this.server.url);
  }

  /** A group id as given, or the id of the group of that name among those the caller can list. */
  async groupId(client: Client, nameOrGid: string): Promise<string> {
    if (UUID.test(nameOrGid)) return nameOrGid;
    const { groups } = await this.call(listGroups({ client }));
    const group = groups.find((g) => g.groupname === nameOrGid);
    if (!group) throw new CliError(ExitCode.NOT_FOUND, `no group named ${nameOrGid} among the groups you can list`, 'GROUP_NOT_FOUND');
    return group.gid;
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A commander action running `handler` with the command's positional arguments and options.
 * Commander passes (…arguments, options, command); the command is the last one.
 */
export function action<Options extends OptionValues>(handler: (ctx: Context, args: string[], options: Options) => Promise<void>) {
  return async (...params: unknown[]): Promise<void> => {
    const command = params[params.length - 1] as Command;
    await handler(new Context(command.optsWithGlobals<GlobalOptions>()), command.processedArgs as string[], command.opts<Options>());
  };
}

/** An option parser for a whole number of at least `least` (commander reports a bad one as a usage error). */
function wholeNumberFrom(least: number): (value: string) => number {
  return (value) => {
    if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(Number(value)) || Number(value) < least) throw new InvalidArgumentError(`expected a whole number of at least ${least}`);
    return Number(value);
  };
}

export const positiveInteger = wholeNumberFrom(1);
export const wholeNumber = wholeNumberFrom(0);

/** `1767225600` (unix seconds) or an ISO 8601 date or time (`2026-12-31`, `2026-12-31T18:00:00Z`; UTC without a zone). */
function instant(value: string): Date {
  if (/^[0-9]+$/.test(value)) return new Date(Number(value) * 1000);
  const date = /^[0-9]{4}-[0-9]{2}-[0-9]{2}/.test(value) ? new Date(/T[0-9:.]+$/.test(value) ? `${value}Z` : value) : undefined;
  if (!date || Number.isNaN(date.getTime())) throw new InvalidArgumentError('expected unix seconds or an ISO date or time such as 2026-12-31 or 2026-12-31T18:00:00Z');
  return date;
}

/** Option parser for a point in time, as unix seconds. */
export const unixSeconds = (value: string): number => Math.floor(instant(value).getTime() / 1000);

/** Option parser for a point in time, as the RFC 3339 time the API's filters take. */
export const isoTime = (value: string): string => instant(value).toISOString();

/** Option parser for a repeatable option: each use adds one value. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Every item of a paged list (`limit`/`offset`/`total`), page by page. */
export async function allPages<T>(page: (offset: number) => Promise<{ items: T[]; total: number }>): Promise<T[]> {
  const items: T[] = [];
  for (;;) {
    const next = await page(items.length);
    items.push(...next.items);
    if (next.items.length === 0 || items.length >= next.total) return items;
  }
}

export const PAGE_SIZE = 1000;

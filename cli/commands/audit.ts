import { Command } from 'commander';
import { listAudit } from '../../clients/typescript/src';
import { action, isoTime, positiveInteger, wholeNumber } from '../context';

interface AuditOptions {
  user?: string;
  target?: string;
  since?: string;
  until?: string;
  limit?: number;
  offset?: number;
}

export function auditCommand(): Command {
  return new Command('audit')
    .description('the audit log, newest first (root): changes, refusals, failed logins; one page (--limit, --offset); --json prints the page with its total')
    .option('-u, --user <uid>', "only this user's requests")
    .option('-t, --target <id>', 'only requests naming this id (a CID, VMID, GID, UID, STID or NICID)')
    .option('--since <time>', 'only from this time on: an ISO date or time, or unix seconds', isoTime)
    .option('--until <time>', 'only up to this time (inclusive)', isoTime)
    .option('-l, --limit <n>', 'records on the page (1 to 1000; the server\'s default 100)', positiveInteger)
    .option('--offset <n>', 'records to skip', wholeNumber)
    .action(
      action<AuditOptions>(async (ctx, _args, options) => {
        const query = { user: options.user, target: options.target, from: options.since, to: options.until, limit: options.limit, offset: options.offset };
        const page = await ctx.call(listAudit({ client: await ctx.client(), query }));
        ctx.out.table(
          page.records,
          [
            ['TIME', (r) => r.at],
            ['WHO', (r) => r.username ?? r.uid ?? '-'],
            ['TOKEN', (r) => r.token_id ?? '-'],
            ['OPERATION', (r) => r.operation ?? `${r.method} ${r.path}`],
            ['STATUS', (r) => r.status],
            ['ERROR', (r) => r.error_code ?? '-'],
            ['TARGETS', (r) => r.targets.join(',')],
          ],
          page,
        );
        const shown = page.offset + page.records.length;
        if (!ctx.out.json && shown < page.total) process.stderr.write(`${page.records.length} of ${page.total} records: --offset ${shown} for the next page\n`);
      }),
    );
}

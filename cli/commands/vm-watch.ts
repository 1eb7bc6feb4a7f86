import { watchVmEvents } from '../../clients/typescript/src';
import { refusalOf } from '../api-call';
import { Context } from '../context';
import { CliError, ExitCode } from '../exit-codes';

export interface WatchOptions {
  catalog?: string;
  vm?: string;
  count?: number;
}

/** One event as the stream carries it: its name and its JSON data. */
interface StreamedEvent {
  name: string;
  id?: string;
  data: Record<string, unknown>;
}

/** Ends of a stream after which the watch goes on from where it was (see GET /v/events). */
const RESUMABLE_ENDS = new Set(['EVENT_STREAM_BEHIND', 'SERVICE_UNAVAILABLE']);

/** `STOPPED → RUNNING (request)`, `created build-01` …: what happened, for a person. */
function describe(event: StreamedEvent): string {
  const d = event.data;
  switch (event.name) {
    case 'state':
      return `${d.previous} → ${d.state} (${d.cause})`;
    case 'created':
    case 'changed':
      return `${event.name} ${d.name}`;
    case 'error':
      return `error: ${d.last_error}`;
    default:
      return event.name;
  }
}

/**
 * `velocity vm watch`: what happens to the VMs the caller may view (GET /v/events), one line
 * per event as it happens (one JSON object per line with --json). When the connection drops,
 * the client falls behind or the server restarts, it goes on from the last event it printed
 * (Last-Event-ID), and says on stderr when events were lost; it ends on a refusal (with the
 * exit code of any refused request), or after --count events.
 */
export async function watch(ctx: Context, options: WatchOptions): Promise<void> {
  const client = await ctx.client();
  const query = { cid: options.catalog, vmid: options.vm };
  const stop = new AbortController();
  let printed = 0;
  let lastId: string | undefined;
  let refusal: CliError | undefined;
  let resumable = false;

  const print = (event: StreamedEvent) => {
    if (stop.signal.aborted) return; // --count reached: the rest of the chunk is not wanted
    if (event.name === 'reset') {
      process.stderr.write('velocity: events were missed (the server no longer keeps them); reload the state you need\n');
      return;
    }
    if (event.name === 'end') {
      const code = String(event.data.code);
      if (RESUMABLE_ENDS.has(code)) resumable = true;
      else refusal = new CliError(code === 'AUTH_REQUIRED' ? ExitCode.AUTH : ExitCode.NOT_FOUND, String(event.data.message), code);
      return;
    }
    if (ctx.out.json) process.stdout.write(`${JSON.stringify({ event: event.name, ...event.data })}\n`);
    else process.stdout.write(`${event.data.timestamp}  ${event.data.vmid}  ${describe(event)}\n`);
    if (options.count !== undefined && ++printed >= options.count) stop.abort();
  };

  do {
    resumable = false;
    const { stream } = await watchVmEvents({
      client,
      query,
      headers: lastId ? { 'Last-Event-ID': lastId } : undefined,
      signal: stop.signal,
      // A refused request (an unknown VM, a missing permission) is not retried like a lost
      // connection: its {code, message} ends the watch, and the SDK is handed an empty stream
      // so that it ends at once instead of backing off to retry.
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        if (response.ok) return response;
        refusal = await refusalOf(response, ctx.server.url);
        return new Response('');
      },
      onSseEvent: (event) => {
        if (event.id) lastId = event.id;
        // The document can only say `text/event-stream`; each event's data is a JSON object.
        if (event.event) print({ name: event.event, id: event.id, data: (event.data ?? {}) as unknown as Record<string, unknown> });
      },
      onSseError: (error) => {
        if (!stop.signal.aborted) process.stderr.write(`velocity: the event stream broke (${(error as Error).message}); reconnecting\n`);
      },
    });
    // Every event is printed as it arrives (onSseEvent, which knows its name); this drains them.
    for await (const _event of stream);
  } while (resumable && !stop.signal.aborted && !refusal);
  if (refusal) throw refusal;
}

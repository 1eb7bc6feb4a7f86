import { Controller, Get, Headers, Query, Res } from '@nestjs/common';
import { ApiHeader, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { ApiErrors } from '../../common/swagger/api-errors.decorator';
import { AuthenticatedUser } from '../../identity/auth/authenticated-user';
import { Authenticated, AuthkeyCredential, CurrentCredential, CurrentUser } from '../../identity/auth/authenticated.decorator';
import { VmEventsQueryDto } from './dto/vm-events-query.dto';
import { VmEventStreams } from './vm-event-streams.service';

const EVENTS_DESCRIPTION = `A Server-Sent Events stream (\`text/event-stream\`) of what happens to the VMs in the catalogs the caller may \`view\` (root: all). Swagger UI cannot show a stream: use \`curl -N\` or an EventSource.

Every event has an \`id:\` line (increasing numbers), an \`event:\` name and one JSON \`data:\` line with \`id\`, \`type\` (the event name), \`vmid\`, \`cid\` and \`timestamp\` (ISO 8601), plus:
- \`state\`: \`previous\`, \`state\` and \`cause\` — \`request\` (POST /v/state, a forced DELETE /v, autostart), \`guest\` (the guest stopped or changed state by itself), \`crash\` (the same, with a hypervisor error; an \`error\` event follows), \`reconcile\` (found at server start);
- \`created\`, \`changed\` (the definition, PATCH /v): \`name\`;
- \`deleted\`;
- \`error\`: \`last_error\`, as GET /v reports it.

Events are sent once committed, in order (per VM and overall). Filters: \`cid\` (a catalog), \`vmid\` (a VM). Reconnect with \`Last-Event-ID\` (or \`last_event_id\`) to get exactly the events missed, from a backlog of VELOCITY_EVENT_BACKLOG events; an id the backlog no longer covers (or one another node of a cluster gave out: ids are per node) gets \`event: reset\` (reload what you need; its \`id\` is the latest event's), then live events. In a cluster, \`event: reset\` also comes in an open stream when the node may have missed other nodes' events (its database connection broke). A comment line (\`: heartbeat\`) comes every VELOCITY_EVENT_HEARTBEAT seconds.

Authorization is checked per event: events of a catalog stop the moment the caller loses \`view\` on it. The stream ends with \`event: end\` and \`data: {code, message}\` when the authkey is revoked, renewed or expires (\`AUTH_REQUIRED\`), when a \`cid\`/\`vmid\` filter's catalog is no longer visible (\`PERMISSION_DENIED\`, \`CATALOG_NOT_FOUND\`), when the client fell more than the backlog behind (\`EVENT_STREAM_BEHIND\`: resume with Last-Event-ID), or at server shutdown (\`SERVICE_UNAVAILABLE\`).`;

@ApiTags('virtual machines')
@Controller('v/events')
export class VmEventsController {
  constructor(private readonly streams: VmEventStreams) {}

  @ApiOperation({ summary: 'Watch VM events (Server-Sent Events): state changes, creations, changes, deletions, errors.', description: EVENTS_DESCRIPTION })
  @Get()
  @Authenticated({ apiTokens: 'scoped' })
  @ApiProduces('text/event-stream')
  @ApiHeader({ name: 'Last-Event-ID', required: false, description: 'Resume after this event id (what EventSource sends when it reconnects)' })
  @ApiOkResponse({
    description: 'The event stream; it stays open.',
    content: {
      'text/event-stream': {
        schema: { type: 'string' },
        example:
          'id: 1764662275000042\nevent: state\ndata: {"id":1764662275000042,"timestamp":"2026-12-02T08:00:00.000Z","type":"state","vmid":"1e7d2c9a-5b3f-4a8e-9c6d-2f1a0b9e8d7c","cid":"3f2a8c1e-7b4d-4e9a-a1c2-5d6e7f8a9b0c","previous":"RUNNING","state":"STOPPED","cause":"guest"}\n\n',
      },
    },
  })
  @ApiErrors(['VALIDATION_FAILED', 'PERMISSION_DENIED', 'CATALOG_NOT_FOUND', 'VM_NOT_FOUND'])
  watchVmEvents(
    @Query() query: VmEventsQueryDto,
    @Headers('last-event-id') lastEventIdHeader: string | undefined,
    @CurrentUser() user: AuthenticatedUser,
    @CurrentCredential() credential: AuthkeyCredential,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const lastEventId = lastEventIdHeader ?? query.last_event_id;
    return this.streams.serve({ user, credential, cid: query.cid, vmid: query.vmid, lastEventId }, reply);
  }
}

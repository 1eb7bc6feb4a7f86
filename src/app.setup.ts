import rateLimit from '@fastify/rate-limit';
import { Logger } from '@nestjs/common';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { setTimeout as delay } from 'node:timers/promises';
import { AuditTrail } from './audit/audit-trail';
import { AllExceptionsFilter } from './common/errors/all-exceptions.filter';
import { ApiError, shuttingDown } from './common/errors/api-error';
import { mapError } from './common/errors/error-body';
import { answerWrongMethods } from './common/http/allowed-methods';
import { applyBodyLimit } from './common/http/body-limit';
import { answerClientError } from './common/http/client-errors';
import { JSON_DEPTH_LIMIT, nestsDeeperThan } from './common/http/json-depth';
import { proxyTrust } from './common/http/proxy-trust';
import { requestIdFor } from './common/http/request-id';
import { AccessLog, urlForLog } from './common/http/request-log';
import { documentErrorsOfEveryOperation } from './common/swagger/api-errors.decorator';
import { closeRequestBodies, documentAuthkeyCarriers } from './common/swagger/document-rules';
import { ErrorResponseDto } from './common/swagger/error-response.dto';
import { VERSION } from './common/version';
import { createValidationPipe } from './common/validation/validation.pipe';
import { AppConfig } from './config/app-config';
import type { AuthenticatedRequest } from './identity/auth/authenticated.decorator';

/** JSON request bodies above this size get 413; uploads have their own, larger limit. */
export const JSON_BODY_LIMIT = 1024 * 1024;

export function createFastifyAdapter(config: AppConfig): FastifyAdapter {
  const trust = proxyTrust(config.trustProxy);
  const errors = new AllExceptionsFilter();
  const adapter = new FastifyAdapter({
    bodyLimit: JSON_BODY_LIMIT,
    trustProxy: trust,
    genReqId: requestIdFor(trust),
    logger: false,
    // While closing, enableGracefulShutdown answers 503 in the API's own error shape.
    return503OnClosing: false,
    // What fails before Fastify has a route, answered in the `{code, message}` shape too.
    clientErrorHandler: answerClientError,
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => errors.respond(error, request, reply),
  });
  // The seed sends GET requests with a JSON body (authkey and fields); Fastify ignores
  // GET bodies unless told that GET may carry one.
  adapter.getInstance().addHttpMethod('GET', { hasBody: true, overrideExisting: true });
  // Fastify reads text/plain bodies as strings, which then fail validation as if fields were
  // missing; the API takes JSON, so they get 415 like any other type.
  adapter.getInstance().removeContentTypeParser('text/plain');
  // Limits are applied where declared (login: LoginRateLimitGuard), not on every route.
  void adapter.getInstance().register(rateLimit, { global: false });
  adapter.getInstance().addHook('onRoute', applyBodyLimit);
  answerWrongMethods(adapter.getInstance());
  acceptEmptyJsonBodies(adapter.getInstance());
  return adapter;
}

/**
 * `Content-Type: application/json` with an empty body is a request without a body (what
 * many clients send on GET and DELETE), not malformed JSON: a handler that needs fields then
 * says which are missing. Fastify parses no body when there is no content type.
 */
function acceptEmptyJsonBodies(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const { headers } = request;
    const empty = headers['transfer-encoding'] === undefined && (headers['content-length'] ?? '0') === '0';
    if (empty && headers['content-type']?.startsWith('application/json')) delete headers['content-type'];
    done();
  });
}

/**
 * SIGTERM and SIGINT stop the server in an order that loses no request: first no new
 * connections, and `503 SERVICE_UNAVAILABLE` for new requests on connections already open;
 * then in-flight requests finish (bounded by the longest a request may legitimately take,
 * a graceful VM stop); only then do the modules shut down (the hypervisor driver, the
 * database). Nest's own shutdown hooks would tear the modules down first.
 */
export function enableGracefulShutdown(app: NestFastifyApplication, config: AppConfig): void {
  const logger = new Logger('Shutdown');
  const fastify = app.getHttpAdapter().getInstance();
  let stopping = false;
  fastify.addHook('onRequest', (_request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    if (!stopping) return done();
    const { status, body } = mapError(shuttingDown());
    void reply.header('connection', 'close').code(status).send(body);
  });
  const drainMs = (config.gracefulStopSeconds + 5) * 1000;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.log(`${signal}: no new requests; waiting up to ${drainMs / 1000} s for those in flight`);
    const drained = await Promise.race([fastify.close().then(() => true), delay(drainMs, false)]);
    if (!drained) logger.warn('requests still in flight after the bound; shutting down anyway');
    await app.close();
    logger.log('stopped');
    AccessLog.flush();
    process.exit(0);
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, (s) => void stop(s));
}

/** Everything about the HTTP surface that is not a route: prefix, errors, validation, docs, logs. */
export function configureApp(app: NestFastifyApplication, config: AppConfig): void {
  if (config.basePath) app.setGlobalPrefix(config.basePath);
  app.useGlobalFilters(new AllExceptionsFilter());
  app.useGlobalPipes(createValidationPipe());

  const fastify = app.getHttpAdapter().getInstance();
  // Hooks run on every request, so they are plain callbacks: an async hook costs a promise
  // and a turn of the hook runner each.
  fastify.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    // Fixes the logged URL while the query is still the one the client sent (see urlForLog).
    urlForLog(request);
    void reply.header('x-request-id', request.id);
    done();
  });
  fastify.addHook('preValidation', (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) => {
    // Refused before the validation pipe, whose recursion a deep body would overflow.
    if (nestsDeeperThan(request.body, JSON_DEPTH_LIMIT)) {
      return done(new ApiError('MALFORMED_BODY', `The request body nests deeper than ${JSON_DEPTH_LIMIT} levels`));
    }
    // The seed's GET endpoints take their fields from a JSON body; clients that cannot send
    // one use the query string. Folding the body into the query lets one @Query() DTO (which
    // is also what the OpenAPI document shows) serve both.
    if (request.method === 'GET' && isPlainObject(request.body)) {
      request.query = { ...(request.query as object), ...request.body };
    }
    done();
  });
  // Image uploads: the handler streams the raw request to disk, so the parser leaves it unread.
  fastify.addContentTypeParser('application/octet-stream', (_request: FastifyRequest, _payload: unknown, done: (err: null) => void) => done(null));
  fastify.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    AccessLog.write(request, reply.statusCode, reply.elapsedTime, (request as Partial<AuthenticatedRequest>).user?.token?.id);
    done();
  });

  const document = buildOpenApiDocument(app, config.basePath);
  // Last among the hooks: its preValidation re-enters the request's context for the handler.
  app.get(AuditTrail).install(fastify, document, config.basePath);
  setupSwagger(app, config, document);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The OpenAPI document of the running application. Its paths are the API's own, whatever
 * the base path; the base path is the server URL, so one generated client works against a
 * server at the root and one under a prefix or behind a reverse proxy's sub-path.
 */
export function buildOpenApiDocument(app: NestFastifyApplication, basePath: string): OpenAPIObject {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Velocity')
      .setDescription(
        'Headless virtual-machine manager. Authenticate with `POST /u/auth`, then send the authkey as ' +
          '`Authorization: Bearer <authkey>` (or as the `authkey` field of the body or query). ' +
          'Programs may use an API token (`vtk_…`, made with `PUT /u/token`) the same way, wherever an authkey goes: ' +
          'it acts as its user, narrowed to its scope. ' +
          'Every error body is `{code, message}`; the codes are listed in the ErrorResponse schema.',
      )
      .setVersion(VERSION)
      .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'authkey', description: 'An authkey from POST /u/auth, or an API token (vtk_…) from PUT /u/token' }, 'authkey')
      .addServer(basePath || '/', basePath ? `This server, under its base path ${basePath}` : 'This server')
      .setLicense('MIT', 'https://opensource.org/licenses/MIT')
      .addTag('identity', 'Users, groups, memberships, authkeys and API tokens (`/u`)')
      .addTag('catalogs', 'Catalogs of VMs and their shares with groups: the seven permissions (`/c`)')
      .addTag('resources', 'Storage images and NICs, owned by groups (`/r`)')
      .addTag('virtual machines', 'Definitions, state, events, console, screenshots and remote screen (`/v`)')
      .addTag('audit', 'The audit log of changes and refusals (`/audit`, root)')
      .addTag('nodes', 'The servers of the cluster: capacity and liveness (`/nodes`)')
      .addTag('health', 'Liveness and readiness, without an authkey')
      .build(),
    {
      ignoreGlobalPrefix: true,
      extraModels: [ErrorResponseDto],
      operationIdFactory: (_controllerKey: string, methodKey: string) => methodKey,
    },
  );
  documentErrorsOfEveryOperation(document);
  documentAuthkeyCarriers(document);
  closeRequestBodies(document);
  return document;
}

function setupSwagger(app: NestFastifyApplication, config: AppConfig, document: OpenAPIObject): void {
  SwaggerModule.setup(`${config.basePath}/docs`, app, document, {
    useGlobalPrefix: false,
    jsonDocumentUrl: `${config.basePath}/docs-json`,
    yamlDocumentUrl: `${config.basePath}/docs-yaml`,
    swaggerOptions: { persistAuthorization: true },
  });
}

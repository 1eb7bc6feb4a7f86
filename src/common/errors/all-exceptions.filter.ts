import { ArgumentsHost, Catch, ExceptionFilter, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { urlForLog } from '../http/request-log';
import { ApiError } from './api-error';
import { mapError } from './error-body';

/** The single place where Nest turns exceptions into HTTP error responses. */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    this.respond(exception, http.getRequest<FastifyRequest>(), http.getResponse<FastifyReply>());
  }

  /** Also Fastify's frameworkErrors handler, for what fails before routing (a malformed URL). */
  respond(exception: unknown, request: FastifyRequest, reply: FastifyReply): void {
    // An upload cancelled or a connection dropped mid-body fails whatever was reading the
    // body; nothing went wrong here, and no one is left to read the answer.
    const cutOff = request.raw.destroyed && !request.raw.complete;
    const { status, body, unexpected } = mapError(
      cutOff ? new ApiError('REQUEST_REJECTED', 'The client closed the connection before the request was complete') : exception,
    );
    if (cutOff) {
      this.logger.debug(`[${request.id}] ${request.method} ${urlForLog(request)}: ${body.message}`);
    } else if (unexpected) {
      const stack = exception instanceof Error ? exception.stack : String(exception);
      this.logger.error(`[${request.id}] ${request.method} ${urlForLog(request)} failed: ${stack}`);
    }
    if (exception instanceof ApiError && exception.retryAfterSeconds !== undefined) {
      void reply.header('retry-after', String(Math.max(1, Math.ceil(exception.retryAfterSeconds))));
    }
    void reply.status(status).send(body);
  }
}

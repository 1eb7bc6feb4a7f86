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
    const { status, body, unexpected } = mapError(exception);
    if (unexpected) {
      const stack = exception instanceof Error ? exception.stack : String(exception);
      this.logger.error(`[${request.id}] ${request.method} ${urlForLog(request)} failed: ${stack}`);
    }
    if (exception instanceof ApiError && exception.retryAfterSeconds !== undefined) {
      void reply.header('retry-after', String(Math.max(1, Math.ceil(exception.retryAfterSeconds))));
    }
    void reply.status(status).send(body);
  }
}

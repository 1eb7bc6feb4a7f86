/*
 * A second reference point: a bare Nest application on the Fastify adapter answering one JSON
 * route, with nothing of Velocity's (no guard, pipe, filter, hook or log). Its ratio to bare
 * Fastify is what Nest on Fastify costs by itself on this machine: a ceiling no Nest route of
 * Velocity's can pass. Prints the port it listens on.
 */
import 'reflect-metadata';
import { Controller, Get, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { AddressInfo } from 'node:net';

@Controller()
class PingController {
  @Get('ping')
  ping(): { status: string } {
    return { status: 'ok' };
  }
}

@Module({ controllers: [PingController] })
class PingModule {}

async function main(): Promise<void> {
  const app = await NestFactory.create<NestFastifyApplication>(PingModule, new FastifyAdapter({ logger: false }), { logger: false });
  await app.listen({ port: 0, host: '127.0.0.1' });
  process.stdout.write(`${(app.getHttpServer().address() as AddressInfo).port}\n`);
  process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
}

void main();

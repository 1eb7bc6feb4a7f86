import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from './app.module';
import { configureApp, createFastifyAdapter, enableGracefulShutdown } from './app.setup';
import { ConfigError, loadConfig } from './config/app-config';

async function bootstrap(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`velocity: configuration error: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), createFastifyAdapter(config));
  configureApp(app, config);
  enableGracefulShutdown(app, config);
  await app.listen({ port: config.port, host: config.host });
  Logger.log(`Listening on http://${config.host}:${config.port}${config.basePath}/ (docs at ${config.basePath}/docs)`, 'Velocity');
}

void bootstrap();

import { join } from 'node:path';
import type { DataSourceOptions } from 'typeorm';
import type { LoggerOptions, Logger } from 'typeorm';

/**
 * The one description of Velocity's database, used by the running server and by the
 * TypeORM CLI (ormconfig.ts). The schema comes from migrations only.
 */
export function dataSourceOptions(databasePath: string, logger?: Logger, logging: LoggerOptions = false): DataSourceOptions {
  return {
    type: 'sqlite',
    database: databasePath,
    // Compiled paths: this file lives in dist/src/database at run time.
    entities: [join(__dirname, '..', '**', '*.entity.js')],
    migrations: [join(__dirname, 'migrations', '*.js')],
    migrationsTableName: 'migrations',
    migrationsRun: false,
    synchronize: false,
    enableWAL: true,
    busyTimeout: 5000,
    logger,
    logging,
  };
}

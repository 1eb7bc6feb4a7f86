import { join } from 'node:path';
import * as sqlite3 from 'sqlite3';
import type { DataSourceOptions } from 'typeorm';
import type { LoggerOptions, Logger } from 'typeorm';

/**
 * TypeORM calls `verbose()` on the sqlite3 module, which makes every statement capture a
 * stack trace for error messages — about a fifth of the CPU time of an authenticated
 * request. Hand it a view of the module whose verbose() changes nothing.
 */
const quietSqlite3: typeof sqlite3 = Object.create(sqlite3, { verbose: { value: () => quietSqlite3 } });

/**
 * The one description of Velocity's database, used by the running server and by the
 * TypeORM CLI (ormconfig.ts). The schema comes from migrations only.
 */
export function dataSourceOptions(databasePath: string, logger?: Logger, logging: LoggerOptions = false): DataSourceOptions {
  return {
    type: 'sqlite',
    driver: quietSqlite3,
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

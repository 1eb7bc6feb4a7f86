import { join } from 'node:path';
import * as sqlite3 from 'sqlite3';
import { DataSource } from 'typeorm';
import type { DataSourceOptions, LoggerOptions, Logger } from 'typeorm';
import type { AppConfig } from '../config/app-config';
import { widenIntegerColumns } from './big-integer-column';
import { isPostgres } from './dialect';
import { bindNumberParameters, PreparedStatementDatabase } from './prepared-statements';

/**
 * The sqlite3 module as TypeORM gets it: its databases keep their statements prepared
 * (PreparedStatementDatabase), and `verbose()`, which TypeORM calls, changes nothing — it
 * would make every statement capture a stack trace for error messages, about a fifth of the
 * CPU time of an authenticated request.
 */
const quietSqlite3: typeof sqlite3 = Object.create(sqlite3, { verbose: { value: () => quietSqlite3 }, Database: { value: PreparedStatementDatabase } });

/** Where the database is: the cluster's PostgreSQL URL if there is one, else the SQLite file. */
export type DatabaseLocation = Pick<AppConfig, 'databasePath' | 'databaseUrl'>;

/**
 * The one description of Velocity's database, used by the running server and by the
 * TypeORM CLI (ormconfig.ts): the embedded SQLite file, or PostgreSQL when a URL is given.
 * The schema comes from migrations only.
 */
export function dataSourceOptions(location: DatabaseLocation, logger?: Logger, logging: LoggerOptions = false): DataSourceOptions {
  const common = {
    // Compiled paths: this file lives in dist/src/database at run time.
    entities: [join(__dirname, '..', '**', '*.entity.js')],
    migrations: [join(__dirname, 'migrations', '*.js')],
    migrationsTableName: 'migrations',
    migrationsRun: false,
    synchronize: false,
    logger,
    logging,
  };
  if (location.databaseUrl) {
    // Counts and bigint columns come back as numbers, as from SQLite (all stay below 2^53).
    return { ...common, type: 'postgres', url: location.databaseUrl, parseInt8: true, applicationName: 'velocity' };
  }
  return { ...common, type: 'sqlite', driver: quietSqlite3, database: location.databasePath, enableWAL: true, busyTimeout: 5000 };
}

/** A DataSource whose entity metadata matches the schema the migrations build on its dialect. */
export class VelocityDataSource extends DataSource {
  constructor(options: DataSourceOptions) {
    super(options);
    if (!isPostgres(this)) bindNumberParameters(this.driver);
  }

  protected override async buildMetadatas(): Promise<void> {
    if (isPostgres(this)) {
      // Creation and update times as instants (`timestamptz`), not wall-clock times read in
      // whatever zone each node and the server happen to be in. (SQLite's are UTC text.)
      const types = this.driver.mappedDataTypes;
      types.createDate = types.updateDate = 'timestamptz';
    }
    await super.buildMetadatas();
    widenIntegerColumns(this);
  }
}

import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { mkdirSync } from 'node:fs';
import { DataSource, DataSourceOptions } from 'typeorm';
import { AppConfig } from '../config/app-config';
import { dataSourceOptions, VelocityDataSource } from './data-source-options';
import { isPostgres } from './dialect';
import { migrate } from './migrate';
import { UnitOfWork } from './unit-of-work';

/**
 * SQLite: WAL with `synchronous = NORMAL`: a commit is written to the WAL file (in the operating
 * system's cache) before the request is answered, but not fsync'd; the WAL is fsync'd at each
 * checkpoint. A killed process (kill -9, a crash) loses no acknowledged write, because the
 * operating system still writes out what the process handed it. A power loss or kernel crash
 * may roll back the last transactions acknowledged before it, never leaving the file
 * inconsistent. Measured: `FULL` (an fsync per commit) held VM creation to ~30 per second.
 * The setting is per connection; TypeORM's sqlite driver keeps one.
 *
 * PostgreSQL keeps its default `synchronous_commit = on`: a commit is fsync'd to the WAL
 * before it is acknowledged, so no acknowledged write is lost even to a power loss; the
 * cost is paid by the server, once per commit.
 */
async function applyDurability(dataSource: DataSource): Promise<DataSource> {
  if (!isPostgres(dataSource)) await dataSource.query('PRAGMA synchronous = NORMAL');
  return dataSource;
}

/**
 * Opens the database (the SQLite file under the data directory, or PostgreSQL when
 * VELOCITY_DATABASE_URL is set) and brings its schema up to date.
 */
@Global()
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => {
        mkdirSync(config.dataDir, { recursive: true });
        return dataSourceOptions(config);
      },
      dataSourceFactory: async (options?: DataSourceOptions) => {
        const dataSource = await new VelocityDataSource(options!).initialize();
        await migrate(dataSource);
        return applyDurability(dataSource);
      },
    }),
  ],
  providers: [UnitOfWork],
  exports: [UnitOfWork],
})
export class DatabaseModule {}

import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { loadConfig } from './src/config/app-config';
import { dataSourceOptions } from './src/database/data-source-options';

/**
 * The DataSource the TypeORM CLI uses (npm run migration:generate / migration:run).
 * It reads VELOCITY_DATA_DIR like the server, so both work on the same database file.
 */
export default new DataSource(dataSourceOptions(loadConfig().databasePath));

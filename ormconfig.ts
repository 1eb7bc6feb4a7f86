import 'reflect-metadata';
import { loadConfig } from './src/config/app-config';
import { dataSourceOptions, VelocityDataSource } from './src/database/data-source-options';

/**
 * The DataSource the TypeORM CLI uses (npm run migration:generate / migration:run).
 * It reads VELOCITY_DATA_DIR and VELOCITY_DATABASE_URL like the server, so both work on the
 * same database.
 */
export default new VelocityDataSource(dataSourceOptions(loadConfig()));

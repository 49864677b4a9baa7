import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { loadConfigFromProcessEnv } from './src/common/config';
import { typeOrmOptions } from './src/common/database/typeorm-options';

/** Data source for the TypeORM CLI (`npm run migration:*`). */
const config = loadConfigFromProcessEnv();

export default new DataSource({
  ...typeOrmOptions(config.database.url, 2),
  entities: [`${__dirname}/src/modules/**/*.entity.{ts,js}`],
});

export { APP_CONFIG, ConfigError, loadConfig, loadConfigFromProcessEnv, loadConfigOrExit } from './app-config';
export type { AppConfig } from './app-config';
export { ConfigModule, InjectConfig } from './config.module';

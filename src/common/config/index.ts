export { APP_CONFIG, ConfigError, SETTING_NAMES, loadConfig, loadConfigFromProcessEnv, loadConfigOrExit } from './app-config';
export type { AppConfig } from './app-config';
export { ConfigModule, InjectConfig } from './config.module';

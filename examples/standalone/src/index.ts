/**
 * The berth server as a library: read the configuration the way the `berth` command does (flags,
 * environment, config file), then start it. Most users run the `berth` command instead.
 *
 * @packageDocumentation
 */
export { readServerConfig, type AuthConfig, type S3Config, type ServerConfig } from './config.js';
export type { ResolveInput, ResolvedSetting, ResolvedSettings, Source } from './config/resolve.js';
export { startServer, type RunningServer } from './server.js';
export type { SettingValue } from './config/settings.js';

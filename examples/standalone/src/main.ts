import { readConfig, type ServerConfig } from './config.js';
import { StartupError } from './data-dir.js';
import { startServer, type RunningServer } from './server.js';

/**
 * A start-up failure is one line on stderr. Exit status 2 for a setting to fix (a flag or variable, the
 * data directory, the port: the line says what to do), 1 for anything else that stopped the start.
 */
function fail(error: unknown, status: 1 | 2): never {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`berth: ${status === 1 ? 'cannot start: ' : ''}${message.replace(/\s*\n\s*/g, ' ')}\n`);
  process.exit(status);
}

let config: ServerConfig;
try {
  config = readConfig(process.argv.slice(2), process.env);
} catch (error) {
  fail(error, 2);
}
let server: RunningServer;
try {
  server = await startServer(config);
} catch (error) {
  fail(error, error instanceof StartupError ? 2 : 1);
}
let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  server.logger.info({ signal }, 'finishing in-flight requests');
  server.close().then(
    () => process.exit(0),
    (error: unknown) => {
      server.logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    },
  );
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
// Announced once a signal can stop it cleanly: whoever waits for this line may send SIGTERM at once.
console.log(`listening on ${server.url}`);

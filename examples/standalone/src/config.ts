import { parseArgs } from 'node:util';
import { resolve } from 'node:path';

export interface ServerConfig {
  host: string;
  port: number;
  /** Directory holding the SQLite file and the blobs. */
  dataDir: string;
  logLevel: string;
}

/** Command-line flags win over environment variables, which win over the defaults. */
export function readConfig(argv: string[], env: NodeJS.ProcessEnv): ServerConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      data: { type: 'string' },
      'log-level': { type: 'string' },
    },
    strict: true,
  });
  const port = Number(values.port ?? env['PORT'] ?? 5000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid port "${values.port ?? env['PORT']}"`);
  return {
    host: values.host ?? env['HOST'] ?? '127.0.0.1',
    port,
    dataDir: resolve(values.data ?? env['BERTH_DATA'] ?? './data'),
    logLevel: values['log-level'] ?? env['LOG_LEVEL'] ?? 'info',
  };
}

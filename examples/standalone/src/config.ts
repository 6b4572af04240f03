import { parseArgs } from 'node:util';
import { resolve } from 'node:path';

export interface ServerConfig {
  host: string;
  port: number;
  /** Directory holding the SQLite file and the blobs. */
  dataDir: string;
  logLevel: string;
  /** File holding the schema1 signing key (PEM or libtrust JWK); without one the key is kept with the metadata. */
  schema1KeyFile: string | undefined;
  /** Accept signed schema1 pushes. */
  schema1Push: boolean;
  /** Platforms served from a list to clients that cannot read lists, in order of preference. */
  platforms: string[] | undefined;
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
      'schema1-key': { type: 'string' },
      'no-schema1-push': { type: 'boolean' },
      platform: { type: 'string' },
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
    schema1KeyFile: optionalPath(values['schema1-key'] ?? env['BERTH_SCHEMA1_KEY']),
    schema1Push: !(values['no-schema1-push'] ?? env['BERTH_SCHEMA1_PUSH'] === 'false'),
    platforms: list(values.platform ?? env['BERTH_PLATFORMS']),
  };
}

function optionalPath(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : resolve(value);
}

function list(value: string | undefined): string[] | undefined {
  const items = value?.split(',').map((item) => item.trim()).filter((item) => item !== '');
  return items && items.length > 0 ? items : undefined;
}

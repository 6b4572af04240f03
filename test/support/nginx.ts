// Debian's nginx as the load balancer in front of several berth instances, started by hand from a config
// in a temp dir (`-p` prefix, `-c` config, `daemon off`, its pid file, logs and temp files there too), so
// nothing of the machine's nginx setup is used or touched. scripts/ensure-system-deps.sh installs it.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort, watch } from './servers.js';

export const NGINX_BIN = '/usr/sbin/nginx';

export interface RunningNginx {
  readonly url: string;
  readonly host: string;
  /** The config it runs with (the README's "Deploying several instances" config plus test-only paths). */
  readonly config: string;
  /** Its access log: one line per request, `METHOD URI STATUS UPSTREAM_ADDRS UPSTREAM_STATUSES`. */
  accessLog(): Promise<string[]>;
  errorLog(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * The proxy settings a registry needs (see README, "Deploying several instances"): bodies of any size
 * (`client_max_body_size 0`), streamed both ways instead of spooled to disk, HTTP/1.1 to the instances, the
 * client's Host kept (upload Locations are built from it). Only a failed connection moves a request to the
 * next instance (`proxy_next_upstream error timeout`, nginx's default): a request whose body has started
 * flowing cannot be replayed, since it is not buffered. When an instance dies under a request, nginx closes
 * the client's connection (444) rather than answering its HTML 502: a dropped connection is what clients
 * retry (containers/image, so skopeo and podman, retries network errors but not a 502), exactly as if they
 * had been talking to that instance directly.
 */
export function balancerConfig(upstreams: readonly string[], listen: string): string {
  return [
    'upstream berth {',
    ...upstreams.map((address) => `  server ${address};`),
    '}',
    'server {',
    `  listen ${listen};`,
    '  client_max_body_size 0;',
    '  location / {',
    '    proxy_pass http://berth;',
    '    proxy_http_version 1.1;',
    '    proxy_set_header Host $http_host;',
    '    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
    '    proxy_set_header X-Forwarded-Proto $scheme;',
    '    proxy_request_buffering off;',
    '    proxy_buffering off;',
    '    proxy_next_upstream error timeout;',
    '    proxy_connect_timeout 5s;',
    '    proxy_read_timeout 600s;',
    '    proxy_send_timeout 600s;',
    '    proxy_intercept_errors off;',
    '    error_page 502 504 = @unavailable;',
    '  }',
    '  location @unavailable {',
    '    return 444;',
    '  }',
    '}',
  ].join('\n');
}

export async function startNginx(upstreams: readonly string[]): Promise<RunningNginx> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-nginx-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const balancer = balancerConfig(upstreams, host);
  const config = [
    // As root, nginx's workers would switch to `nobody`; they stay this user instead.
    ...(userInfo().uid === 0 ? ['user root;'] : []),
    'daemon off;',
    // One worker: round robin then goes strictly from one instance to the next.
    'worker_processes 1;',
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${join(dir, 'error.log')} warn;`,
    'events { worker_connections 1024; }',
    'http {',
    "  log_format upstreams '$request_method $request_uri $status $upstream_addr $upstream_status';",
    `  access_log ${join(dir, 'access.log')} upstreams;`,
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((name) => `  ${name}_temp_path ${join(dir, name)};`),
    balancer.replace(/^/gm, '  '),
    '}',
    '',
  ].join('\n');
  const configPath = join(dir, 'nginx.conf');
  await writeFile(configPath, config);

  const child = spawn(NGINX_BIN, ['-p', dir, '-c', configPath, '-e', join(dir, 'error.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
  const process_ = watch(child, 'nginx');
  const url = `http://${host}`;
  const stop = async () => {
    await process_.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await process_.race(waitUntilListening(url));
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url,
    host,
    config: balancer,
    accessLog: async () => (await readFile(join(dir, 'access.log'), 'utf8')).split('\n').filter(Boolean),
    errorLog: () => readFile(join(dir, 'error.log'), 'utf8'),
    stop,
  };
}

async function waitUntilListening(url: string): Promise<void> {
  for (;;) {
    try {
      const response = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

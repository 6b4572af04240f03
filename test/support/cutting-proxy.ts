// A TCP proxy on loopback in front of a server, which can cut a connection in the middle of a
// response: once it has passed `cutAfterBytes` bytes from the server on one connection, it destroys
// both sides. Put between a mirror and its upstream, it is an upstream that dies mid-blob. Its target
// can change: an address that stays while the server behind it restarts on another port.
import { createConnection, createServer, type Socket } from 'node:net';

export interface CuttingProxy {
  /** `127.0.0.1:PORT`. */
  readonly host: string;
  /** Where new connections go. */
  target: ProxyTarget;
  /**
   * Cut every connection (open or new) once it has carried this many bytes from the server;
   * undefined passes everything.
   */
  cutAfterBytes: number | undefined;
  /** How many connections were cut so far. */
  cuts(): number;
  /** Closes the listener and every open connection. */
  stop(): Promise<void>;
}

export interface ProxyTarget {
  readonly host: string;
  readonly port: number;
}

/** `host:port` (as RunningRegistry.host gives it) as a proxy target. */
export function proxyTarget(hostAndPort: string): ProxyTarget {
  const { hostname, port } = new URL(`http://${hostAndPort}`);
  return { host: hostname, port: Number(port) };
}

export async function startCuttingProxy(target: ProxyTarget): Promise<CuttingProxy> {
  const sockets = new Set<Socket>();
  let cuts = 0;
  const proxy: CuttingProxy = {
    host: '',
    target,
    cutAfterBytes: undefined,
    cuts: () => cuts,
    stop: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  const server = createServer((client) => {
    const upstream = createConnection(proxy.target);
    sockets.add(client).add(upstream);
    const forget = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', forget).on('close', forget);
    upstream.on('error', forget).on('close', forget);
    client.pipe(upstream);
    let passed = 0;
    upstream.on('data', (chunk: Buffer) => {
      const limit = proxy.cutAfterBytes;
      if (limit !== undefined && passed + chunk.length > limit) {
        // Pass what fits under the limit, then drop both sides without a clean end (no FIN first).
        client.write(chunk.subarray(0, Math.max(0, limit - passed)), () => {
          cuts++;
          client.resetAndDestroy();
          upstream.destroy();
        });
        passed = limit;
        upstream.pause();
        return;
      }
      passed += chunk.length;
      if (!client.write(chunk)) {
        upstream.pause();
        client.once('drain', () => upstream.resume());
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('could not read the proxy port');
  return Object.assign(proxy, { host: `127.0.0.1:${address.port}` });
}

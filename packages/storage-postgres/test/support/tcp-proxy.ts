import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on a loopback port in front of the real PostgreSQL server: the adapter connects to
 * it, and the test makes the database unreachable (and reachable again) by closing and reopening
 * it. Nothing is mocked: the driver sees a real listener disappear and real sockets end.
 */
export class TcpProxy {
  readonly #target: { host: string; port: number };
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #port = 0;
  #cutOn: { marker: Buffer; done: () => void } | undefined;

  private constructor(target: { host: string; port: number }) {
    this.#target = target;
    this.#server = createServer((client) => this.#accept(client));
  }

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const proxy = new TcpProxy(target);
    await proxy.#listen(0);
    return proxy;
  }

  get port(): number {
    return this.#port;
  }

  /** Stops listening (new connections are refused) and ends every open connection abruptly. */
  async cut(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    await closed;
  }

  /** Listens again on the same port. */
  async restore(): Promise<void> {
    await this.#listen(this.#port);
  }

  /**
   * The next time a client sends bytes containing `marker`, drops them and cuts every connection,
   * as a network failure would at that very moment. Resolves once it happened.
   */
  cutWhenClientSends(marker: string): Promise<void> {
    return new Promise((resolve) => {
      this.#cutOn = { marker: Buffer.from(marker), done: resolve };
    });
  }

  async close(): Promise<void> {
    if (this.#server.listening) await this.cut();
  }

  #listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, '127.0.0.1', () => {
        this.#server.off('error', reject);
        this.#port = (this.#server.address() as { port: number }).port;
        resolve();
      });
    });
  }

  #accept(client: Socket): void {
    const upstream = createConnection(this.#target);
    for (const socket of [client, upstream]) {
      this.#sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        this.#sockets.delete(socket);
        // Either side gone: the other goes too, as with a real broken link.
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (data: Buffer) => {
      const cutOn = this.#cutOn;
      if (cutOn !== undefined && data.includes(cutOn.marker)) {
        this.#cutOn = undefined;
        void this.cut().then(cutOn.done);
        return;
      }
      upstream.write(data);
    });
    upstream.on('data', (data: Buffer) => client.write(data));
  }
}

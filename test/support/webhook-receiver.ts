import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An event as a receiver sees it: distribution's fields (the root test folder does not import berth's types). */
export interface RegistryEvent {
  id: string;
  timestamp: string;
  action: string;
  target: {
    mediaType?: string;
    digest?: string;
    size?: number;
    length?: number;
    repository: string;
    url?: string;
    tag?: string;
    fromRepository?: string;
  };
  request: { id: string; addr?: string; host?: string; method: string; useragent: string };
  actor: { name?: string };
  source: { addr?: string; instanceID?: string };
}

/** One POST the receiver got. */
export interface ReceivedDelivery {
  path: string;
  headers: IncomingHttpHeaders;
  /** The body as sent. */
  text: string;
  events: RegistryEvent[];
}

/**
 * A real HTTP webhook receiver on 127.0.0.1: records every delivery, answers what `answer` says (200 by
 * default), and can be stopped (connections refused) and started again on the same port.
 */
export class WebhookReceiver {
  readonly deliveries: Array<ReceivedDelivery & { accepted?: boolean }> = [];
  /** The status to answer a delivery with; deliveries answered with anything but 2xx are still recorded. */
  answer: (delivery: ReceivedDelivery) => number = () => 200;
  #server: Server | undefined;
  #port = 0;
  #waiters = new Set<() => void>();

  static async start(): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver();
    await receiver.start();
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}/hook`;
  }

  /** Events of the deliveries answered with 2xx, in arrival order. */
  get accepted(): RegistryEvent[] {
    return this.deliveries.filter((delivery) => delivery.accepted).flatMap((delivery) => delivery.events);
  }

  async start(): Promise<void> {
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let events: RegistryEvent[] = [];
        try {
          events = (JSON.parse(text) as { events?: RegistryEvent[] }).events ?? [];
        } catch {
          // Recorded with no events: the test looks at `text`.
        }
        const delivery: ReceivedDelivery & { accepted?: boolean } = { path: request.url ?? '', headers: request.headers, text, events };
        const status = this.answer(delivery);
        delivery.accepted = status >= 200 && status < 300;
        this.deliveries.push(delivery);
        response.writeHead(status).end();
        for (const wake of this.#waiters) wake();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, '127.0.0.1', () => resolve());
    });
    this.#port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  /** Stops listening: further deliveries are refused until start(). */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server === undefined) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  /** Resolves once `condition` holds for the accepted events; fails after `timeoutMs` with what arrived. */
  async waitFor(condition: (events: RegistryEvent[]) => boolean, what: string, timeoutMs = 60_000): Promise<RegistryEvent[]> {
    const deadline = Date.now() + timeoutMs;
    while (!condition(this.accepted)) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new Error(`webhook receiver: timed out waiting for ${what}; accepted: ${JSON.stringify(this.accepted.map(brief))}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(remaining, 1000));
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.#waiters.add(done);
      }).finally(() => this.#waiters.clear());
    }
    return this.accepted;
  }
}

/** An event in a line: action, repository, tag or digest. */
export function brief(event: RegistryEvent): string {
  return [event.action, event.target.repository, event.target.tag, event.target.digest].filter((part) => part !== undefined).join(' ');
}

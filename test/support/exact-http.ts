// HTTP requests with exactly the headers given, through node:http. fetch() adds
// `Accept: */*` when a request has none, which hides the "no Accept header" case old Docker
// clients produce; node:http sends only what it is told (plus Host and Connection).
import { request } from 'node:http';

export interface ExactAnswer {
  readonly status: number;
  /** Lower-case header names; repeated headers joined with ', '. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

export interface ExactRequest {
  readonly method?: string;
  /** A header given as an array is sent as that many separate header lines. */
  readonly headers?: Readonly<Record<string, string | readonly string[]>>;
}

export function exactRequest(url: string, options: ExactRequest = {}): Promise<ExactAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: options.method ?? 'GET', headers: options.headers as Record<string, string | string[]>, timeout: 30_000 },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          const headers: Record<string, string> = {};
          for (const [name, value] of Object.entries(response.headers)) {
            if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
          }
          resolve({ status: response.statusCode ?? 0, headers, body: Buffer.concat(chunks) });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${options.method ?? 'GET'} ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

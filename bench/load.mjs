// Runs one autocannon load and prints its counts as JSON on stdout. A process of its own: loaded into
// the bench process, autocannon makes V8 answer the blob workloads' socket buffers with hundreds of
// full (mark-compact) collections, which halves the bench's own download rate and skews pulls.
// HEAD goes through node:http instead: autocannon's parser waits for the body a HEAD answer announces.
import { Agent, request } from 'node:http';
import autocannon from 'autocannon';

const { url, connections, duration, headers, method = 'GET' } = JSON.parse(process.argv[2] ?? '{}');

/** `connections` keep-alive loops of HEAD requests for `duration` seconds, counted as autocannon counts. */
async function headLoad() {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const counts = { total: 0, non2xx: 0, errors: 0, timeouts: 0 };
  const started = Date.now();
  const until = started + duration * 1000;
  const once = () =>
    new Promise((resolve) => {
      const req = request(url, { method: 'HEAD', headers, agent }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode < 200 || res.statusCode >= 300) counts.non2xx++;
          counts.total++;
          resolve();
        });
      });
      req.on('error', () => {
        counts.errors++;
        resolve();
      });
      req.end();
    });
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (Date.now() < until) await once();
    }),
  );
  agent.destroy();
  return { ...counts, duration: (Date.now() - started) / 1000 };
}

const result =
  method === 'HEAD'
    ? await headLoad()
    : await autocannon({ url, connections, duration, headers, method }).then((run) => ({
        total: run.requests.total,
        duration: run.duration,
        non2xx: run.non2xx,
        errors: run.errors,
        timeouts: run.timeouts,
      }));
process.stdout.write(`${JSON.stringify(result)}\n`);

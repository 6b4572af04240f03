// `node bench/upload-memory.mjs [--uploads 100] [--size-mib 8] [--rounds 3] [--encoding length|chunked] [-- berth flags]`
// Peak resident memory of the standalone server while many uploads stream in at once: starts berth (built
// by `tsc -b`), reads its idle RSS, then in each round opens `uploads` upload sessions and sends one PATCH of
// `size-mib` MiB on each, all at the same time, then finishes every upload with a PUT and checks the blobs
// exist. The peak is the kernel's high-water mark (VmHWM in /proc/<pid>/status, reset before each round
// through clear_refs) together with VmRSS sampled every 20 ms. Prints one line per round and a summary, and
// exits 1 if the peak is over --goal-mib (150 by default) or any request fails.
import { Agent } from 'node:http';
import { parseArgs } from 'node:util';
import { BlobSource } from './blob-data.mjs';
import { absoluteLocation, expectStatus, request, withQuery } from './http.mjs';
import { MiB } from './report.mjs';
import { readMemory, startBerth, trackPeakRss } from './servers.mjs';

const separator = process.argv.indexOf('--');
const own = separator === -1 ? process.argv.slice(2) : process.argv.slice(2, separator);
const berthArgs = separator === -1 ? [] : process.argv.slice(separator + 1);
const { values } = parseArgs({
  args: own,
  options: {
    uploads: { type: 'string', default: '100' },
    'size-mib': { type: 'string', default: '8' },
    rounds: { type: 'string', default: '3' },
    encoding: { type: 'string', default: 'length' },
    'goal-mib': { type: 'string', default: '150' },
    'time-limit': { type: 'string', default: '120' },
  },
});
const uploads = Number(values.uploads);
const size = Number(values['size-mib']) * MiB;
const rounds = Number(values.rounds);
const chunkedEncoding = values.encoding === 'chunked';
const goal = Number(values['goal-mib']);
const log = (message) => process.stderr.write(`[upload-memory] ${message}\n`);
const mib = (bytes) => (bytes / MiB).toFixed(1);

// Every request gets its own connection: 100 uploads means 100 sockets at the server.
const agent = new Agent({ keepAlive: false, maxSockets: Infinity });

const server = await startBerth({ args: berthArgs });
const deadline = setTimeout(() => {
  log(`not done within ${values['time-limit']} s`);
  server.stop().finally(() => process.exit(1));
}, Number(values['time-limit']) * 1000);
let failed = false;
try {
  // Let start-up garbage settle before reading the idle figure.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  await request('GET', `${server.url}/v2/`, { agent });
  const idle = await readMemory(server.pid);
  log(`berth pid ${server.pid}, idle RSS ${mib(idle)} MiB; ${uploads} concurrent PATCHes of ${mib(size)} MiB (${chunkedEncoding ? 'chunked encoding' : 'Content-Length'})`);
  const peaks = [];
  for (let round = 0; round < rounds; round++) {
    const sources = Array.from({ length: uploads }, (_, index) => new BlobSource(round * 1_000 + index + 1, size));
    const locations = await Promise.all(
      sources.map(async (_, index) => {
        const started = await request('POST', `${server.url}/v2/bench/memory${index % 10}/blobs/uploads/`, {
          agent,
          headers: { 'content-length': '0' },
        });
        expectStatus(started, 202, 'POST');
        return absoluteLocation(server.url, started);
      }),
    );
    const memory = await trackPeakRss(server.pid);
    const startedAt = process.hrtime.bigint();
    const patched = await Promise.all(
      sources.map(async (source, index) => {
        const headers = { 'content-type': 'application/octet-stream' };
        if (!chunkedEncoding) {
          headers['content-length'] = String(size);
          headers['content-range'] = `0-${size - 1}`;
        }
        const response = await request('PATCH', locations[index], { agent, headers, body: source.chunks() });
        expectStatus(response, 202, 'PATCH');
        return absoluteLocation(server.url, response);
      }),
    );
    const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
    const peak = await memory.stop();
    peaks.push(peak);
    await Promise.all(
      sources.map(async (source, index) => {
        const done = await request('PUT', withQuery(patched[index], 'digest', source.digest().digest), {
          agent,
          headers: { 'content-length': '0' },
        });
        expectStatus(done, 201, 'PUT');
      }),
    );
    log(`round ${round + 1}: peak RSS ${mib(peak)} MiB, ${mib(uploads * size)} MiB received in ${seconds.toFixed(1)} s`);
  }
  const worst = Math.max(...peaks);
  const verdict = worst <= goal * MiB ? 'within' : 'OVER';
  console.log(
    `idle ${mib(idle)} MiB, peak ${mib(worst)} MiB (rounds: ${peaks.map(mib).join(', ')}) with ${uploads} concurrent ${mib(size)} MiB PATCHes: ${verdict} the ${goal} MiB goal`,
  );
  failed = worst > goal * MiB;
} catch (error) {
  failed = true;
  log(error instanceof Error ? error.stack ?? error.message : String(error));
  log(server.logs());
} finally {
  clearTimeout(deadline);
  agent.destroy();
  await server.stop();
}
process.exit(failed ? 1 : 0);

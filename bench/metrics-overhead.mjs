// `node bench/metrics-overhead.mjs [--requests 30000] [--rounds 3]`
// What the Prometheus metrics cost the cheapest request: the server CPU time (utime + stime from
// /proc/<pid>/stat) per manifest GET by tag, with metrics on and with --no-metrics, in alternating rounds.
// CPU time per request, unlike requests per second, barely moves when other work shares the machine.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { startBerth } from './servers.mjs';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '30000' }, rounds: { type: 'string', default: '3' } } });
const requests = Number(values.requests);
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const sha256 = (bytes) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** Seconds of CPU the process has used. */
async function cpuSeconds(pid) {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function measure(args) {
  const server = await startBerth({ args });
  try {
    const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
    await fetch(`${server.url}/v2/app/blobs/uploads/?digest=${sha256(config)}`, { method: 'POST', body: config });
    const manifest = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length }, layers: [] });
    const put = await fetch(`${server.url}/v2/app/manifests/latest`, { method: 'PUT', headers: { 'Content-Type': OCI_MANIFEST }, body: manifest });
    if (put.status !== 201) throw new Error(`manifest PUT answered ${put.status}`);
    const load = (amount) => autocannon({ url: `${server.url}/v2/app/manifests/latest`, headers: { Accept: OCI_MANIFEST }, connections: 20, amount });
    await load(5000); // warm-up
    const before = await cpuSeconds(server.pid);
    const result = await load(requests);
    if (result.non2xx > 0 || result.errors > 0) throw new Error(`${result.non2xx} non-2xx answers, ${result.errors} errors`);
    return ((await cpuSeconds(server.pid)) - before) / requests;
  } finally {
    await server.stop();
  }
}

const on = [];
const off = [];
for (let round = 0; round < Number(values.rounds); round++) {
  on.push(await measure([]));
  off.push(await measure(['--no-metrics']));
  console.log(`round ${round + 1}: metrics on ${(on.at(-1) * 1e6).toFixed(0)} µs, off ${(off.at(-1) * 1e6).toFixed(0)} µs CPU per manifest GET`);
}
const median = (values_) => [...values_].sort((a, b) => a - b)[Math.floor(values_.length / 2)];
console.log(`median: metrics on ${(median(on) * 1e6).toFixed(0)} µs, off ${(median(off) * 1e6).toFixed(0)} µs (+${((median(on) / median(off) - 1) * 100).toFixed(0)}%)`);

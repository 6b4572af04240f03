// `node bench/request-cpu.mjs [--seconds 5] [--rounds 3] [--postgres]` (after `pnpm exec tsc -b`)
// The server's CPU time (utime + stime from /proc/<pid>/stat) per request on berth's read paths: manifest
// GET and HEAD by tag, a GET by tag served as a remembered schema1 conversion, and tags/list page 1 and
// page 20 of 2,000 tags. CPU time per request, unlike requests per second, barely moves when other work
// shares the machine, so it compares builds (run the script from another checkout's bench/ for the other).
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { median } from './report.mjs';
import { SCHEMA2, pushImage } from './registry-client.mjs';
import { seedTags } from './seed-tags.mjs';
import { startBerth } from './servers.mjs';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' }, postgres: { type: 'boolean', default: false } },
});
const LOAD_SCRIPT = fileURLToPath(new URL('./load.mjs', import.meta.url));

async function cpuSeconds(pid) {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function load(url, { method = 'GET', headers = {}, duration }) {
  const { stdout } = await promisify(execFile)(process.execPath, [LOAD_SCRIPT, JSON.stringify({ url, connections: 20, duration, headers, method })]);
  const result = JSON.parse(stdout);
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return result.total;
}

let database;
const args = [];
if (values.postgres) {
  const { createScratchDatabase } = await import(fileURLToPath(new URL('../packages/storage-postgres/dist/testing.js', import.meta.url)));
  database = await createScratchDatabase();
  args.push('--database', database.url);
}
const server = await startBerth({ args });
try {
  const repository = 'bench/cpu';
  const { digest } = await pushImage(server, repository, 't00000');
  await seedTags({ dataDir: server.dataDir, databaseUrl: database?.url }, { repository, digest, from: 1, to: 2000, width: 5 });
  const base = `${server.url}/v2/${repository}`;
  const accept = { accept: SCHEMA2 };
  const cases = [
    ['manifest GET by tag', `${base}/manifests/t00000`, 'GET', accept],
    ['manifest HEAD by tag', `${base}/manifests/t00000`, 'HEAD', accept],
    ['manifest GET by tag, remembered schema1 conversion', `${base}/manifests/t00000`, 'GET', {}],
    ['tags/list n=100 page 1 of 2,000 tags', `${base}/tags/list?n=100`, 'GET', {}],
    ['tags/list n=100 page 20 of 2,000 tags', `${base}/tags/list?n=100&last=t01899`, 'GET', {}],
  ];
  const duration = Number(values.seconds);
  // Warm-up: JIT, statement caches, the schema1 conversion made once.
  for (const [, url, method, headers] of cases) await load(url, { method, headers, duration: 3 });
  const samples = new Map(cases.map(([name]) => [name, []]));
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const [name, url, method, headers] of cases) {
      const before = await cpuSeconds(server.pid);
      const requests = await load(url, { method, headers, duration });
      samples.get(name).push((((await cpuSeconds(server.pid)) - before) / requests) * 1e6);
    }
  }
  process.stdout.write(`| ${values.postgres ? 'PostgreSQL' : 'SQLite'}: server CPU per request | median µs | rounds |\n|---|---:|---|\n`);
  for (const [name, values_] of samples) {
    process.stdout.write(`| ${name} | ${median(values_).toFixed(0)} | ${values_.map((value) => value.toFixed(0)).join(', ')} |\n`);
  }
} finally {
  await server.stop();
  await database?.drop();
}

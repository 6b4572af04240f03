// Runs one autocannon load and prints its counts as JSON on stdout. A process of its own: loaded into
// the bench process, autocannon makes V8 answer the blob workloads' socket buffers with hundreds of
// full (mark-compact) collections, which halves the bench's own download rate and skews pulls.
import autocannon from 'autocannon';

const { url, connections, duration, headers } = JSON.parse(process.argv[2] ?? '{}');
const result = await autocannon({ url, connections, duration, headers });
process.stdout.write(
  `${JSON.stringify({
    total: result.requests.total,
    duration: result.duration,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  })}\n`,
);

// Loaded with `node --import` into a process the bench measures: prints the process's peak resident set
// size in bytes (getrusage's ru_maxrss, which the kernel keeps, so no sample can miss the peak) as it exits.
process.once('exit', () => {
  process.stderr.write(`[peak-rss] ${process.resourceUsage().maxRSS * 1024}\n`);
});

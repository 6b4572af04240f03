// The entry scripts started before the `berth` command line existed: the same command line (serve by default).
import { runCli } from './cli/run.js';

process.exit(await runCli(process.argv.slice(2)));

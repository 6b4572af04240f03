#!/usr/bin/env -S node --max-semi-space-size=2 --heap-growing-percent=50
import { runCli } from './cli/run.js';

process.exitCode = await runCli(process.argv.slice(2));
// A server that stopped has closed everything; whatever else is left (a prompt's stdin) must not keep the process.
process.exit();

#!/usr/bin/env bash
# Runs every test (unit, adapter, HTTP, and interop with real clients) and ends with the line
# `N passed, M failed`. Exit status is non-zero when anything failed or did not run.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-system-deps.sh || exit 1
{ pnpm exec tsc -b && pnpm exec tsc -p tsconfig.check.json; } || { echo "0 passed, 1 failed"; exit 1; }
mkdir -p .tmp
pnpm exec vitest run --reporter=default --reporter=json --outputFile=.tmp/vitest-report.json "$@"
status=$?
node scripts/test-summary.mjs .tmp/vitest-report.json || status=1
exit $status

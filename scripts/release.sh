#!/usr/bin/env bash
# Builds from clean, runs every test, and packs each publishable package into one directory
# (default .tmp/release), ready for `npm publish <tarball>`. It publishes nothing.
# Version first with `pnpm changeset version` (it turns .changeset/*.md into versions and CHANGELOGs).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-.tmp/release}"
# A clean build: tsc -b leaves the output of deleted sources behind, and it would be packed.
rm -rf packages/*/dist examples/*/dist packages/*/tsconfig.tsbuildinfo examples/*/tsconfig.tsbuildinfo
pnpm exec tsc -b
bash scripts/test.sh
rm -rf "$out"
node scripts/pack.mjs "$out"

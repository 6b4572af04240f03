// Packs every publishable workspace package (not `private`) into one directory, the way it would be
// published: `pnpm pack` turns `workspace:^` into caret ranges and applies `publishConfig` (which drops
// the `@berth/source` export condition, since tarballs hold no src/). Prints the tarballs' paths.
// Usage: node scripts/pack.mjs <destination directory>
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const destination = resolve(process.argv[2] ?? join(root, '.tmp', 'packages'));
mkdirSync(destination, { recursive: true });

for (const group of ['packages', 'examples']) {
  for (const name of readdirSync(join(root, group)).sort()) {
    const dir = join(root, group, name);
    let manifest;
    try {
      manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    } catch {
      continue; // not a package
    }
    if (manifest.private) continue;
    const out = execFileSync('pnpm', ['pack', '--json', '--pack-destination', destination], { cwd: dir, encoding: 'utf8' });
    console.log(JSON.parse(out).filename);
  }
}

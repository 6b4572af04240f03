// The public API of every published package, recorded in api/<package>.api.md (API Extractor reports,
// read from the built declarations), so that a change to what users can import is a visible diff in
// review. `pnpm api` builds and rewrites the reports; `node scripts/api-report.mjs --check` (and the
// test in test/api) fails when the built surface differs from them.
// A package's `./internal` export is for berth's own packages and is not recorded.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Extractor, ExtractorConfig } from '@microsoft/api-extractor';

export const REPO_ROOT = resolve(import.meta.dirname, '..');
export const REPORT_FOLDER = join(REPO_ROOT, 'api');

/** Export subpaths that are not part of the public API. */
const UNRECORDED_SUBPATHS = new Set(['./internal']);

/**
 * Every public entry point of every published (not `private`) workspace package: its package, the
 * built declaration file and the report's name (`core`, `storage-postgres.testing`).
 */
export function publicEntryPoints(root = REPO_ROOT) {
  const entryPoints = [];
  for (const group of ['packages', 'examples']) {
    for (const folder of readdirSync(join(root, group)).sort()) {
      const dir = join(root, group, folder);
      const manifestPath = join(dir, 'package.json');
      if (!existsSync(manifestPath)) continue;
      const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
      if (manifest.private) continue;
      const exports = manifest.publishConfig?.exports ?? manifest.exports ?? {};
      for (const [subpath, target] of Object.entries(exports)) {
        if (UNRECORDED_SUBPATHS.has(subpath)) continue;
        const unscoped = manifest.name.replace(/^@[^/]+\//, '');
        entryPoints.push({
          packageName: manifest.name,
          subpath,
          dir,
          declarations: join(dir, target.types),
          reportName: subpath === '.' ? unscoped : `${unscoped}.${subpath.replace(/^\.\//, '').replaceAll('/', '.')}`,
        });
      }
    }
  }
  return entryPoints;
}

/** Brings the packages' dist/ up to date (incremental: quick when nothing changed). */
export function buildDeclarations(root = REPO_ROOT) {
  execFileSync('pnpm', ['exec', 'tsc', '-b'], { cwd: root, stdio: 'inherit' });
}

/**
 * Runs API Extractor on each entry point. With `update`, rewrites the reports in `reportFolder`;
 * without, only compares. Returns, per entry point, whether its report differs (or is missing) and
 * the warnings met (an export whose type is not exported itself, a broken TSDoc comment).
 */
export function runApiReports({ update = false, reportFolder = REPORT_FOLDER, root = REPO_ROOT, quiet = false } = {}) {
  const tempFolder = mkdtempSync(join(tmpdir(), 'berth-api-'));
  if (update) mkdirSync(reportFolder, { recursive: true });
  try {
    return publicEntryPoints(root).map((entry) => {
      const config = ExtractorConfig.prepare({
        configObject: {
          projectFolder: entry.dir,
          mainEntryPointFilePath: entry.declarations,
          newlineKind: 'lf',
          compiler: {
            overrideTsconfig: {
              compilerOptions: {
                target: 'ES2022',
                lib: ['ES2023'],
                module: 'NodeNext',
                moduleResolution: 'NodeNext',
                types: ['node'],
                strict: true,
                skipLibCheck: true,
              },
              files: [entry.declarations],
            },
          },
          apiReport: { enabled: true, reportFileName: entry.reportName, reportFolder, reportTempFolder: tempFolder },
          docModel: { enabled: false },
          dtsRollup: { enabled: false },
          tsdocMetadata: { enabled: false },
          messages: {
            compilerMessageReporting: { default: { logLevel: 'warning' } },
            extractorMessageReporting: {
              default: { logLevel: 'warning', addToApiReportFile: true },
              // Release tags (@public, @beta) are not used: everything exported is public.
              'ae-missing-release-tag': { logLevel: 'none' },
              'ae-undocumented': { logLevel: 'warning', addToApiReportFile: false },
            },
            tsdocMessageReporting: { default: { logLevel: 'warning', addToApiReportFile: true } },
          },
        },
        configObjectFullPath: undefined,
        packageJsonFullPath: join(entry.dir, 'package.json'),
      });
      const warnings = [];
      const result = Extractor.invoke(config, {
        localBuild: update,
        showVerboseMessages: false,
        messageCallback(message) {
          if (message.logLevel === 'warning' || message.logLevel === 'error') warnings.push(message.text);
          if (quiet) message.handled = true;
        },
      });
      return {
        packageName: entry.packageName,
        subpath: entry.subpath,
        report: join(reportFolder, `${entry.reportName}.api.md`),
        changed: result.apiReportChanged,
        warnings,
      };
    });
  } finally {
    rmSync(tempFolder, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const check = process.argv.includes('--check');
  buildDeclarations();
  const results = runApiReports({ update: !check, quiet: true });
  let failed = false;
  for (const { packageName, subpath, report, changed, warnings } of results) {
    const name = subpath === '.' ? packageName : `${packageName}/${subpath.slice(2)}`;
    for (const warning of warnings) console.log(`${name}: ${warning}`);
    if (check && changed) {
      failed = true;
      console.log(`${name}: the public API differs from ${report.slice(REPO_ROOT.length + 1)}; run \`pnpm api\` and commit the report`);
    } else if (changed) console.log(`${name}: ${report.slice(REPO_ROOT.length + 1)} updated`);
  }
  if (failed) process.exit(1);
}

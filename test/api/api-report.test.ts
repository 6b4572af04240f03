// The public API recorded in api/*.api.md matches what the built packages export: a change to a
// package's surface without `pnpm api` (and the report's diff in review) fails here.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPORT_FOLDER, buildDeclarations, publicEntryPoints, runApiReports, type ApiReportResult } from '../../scripts/api-report.mjs';

const entryName = (result: ApiReportResult) => (result.subpath === '.' ? result.packageName : `${result.packageName}/${result.subpath.slice(2)}`);

describe('the API reports in api/', () => {
  let results: ApiReportResult[];
  beforeAll(() => {
    buildDeclarations();
    results = runApiReports({ quiet: true });
  });

  it('cover every public entry point of every published package', () => {
    const names = results.map(entryName);
    expect(names).toContain('@berth/core');
    expect(names).toContain('@berth/koa');
    expect(names).not.toContain('@berth/core/internal');
    expect(names.length).toBe(publicEntryPoints().length);
  });

  it('match the built declarations (else run `pnpm api` and commit the reports)', () => {
    for (const result of results) {
      expect(result.changed, `${entryName(result)}: the public API differs from ${result.report}; run \`pnpm api\` and commit the report`).toBe(false);
    }
  });

  it('leak no internal types and reference no unexported ones', () => {
    for (const result of results) {
      const report = readFileSync(result.report, 'utf8');
      expect(report, `${entryName(result)} exposes a type from an ./internal export`).not.toMatch(/from '@berth\/[a-z-]+\/internal'/);
      expect(report, `${entryName(result)}: see the Warning lines in ${result.report}`).not.toMatch(/\/\/ Warning: \(ae-/);
    }
  });

  describe('against a report that no longer matches', () => {
    let folder: string;
    afterAll(() => rmSync(folder, { recursive: true, force: true }));

    it('names the package whose surface changed', () => {
      folder = mkdtempSync(join(tmpdir(), 'berth-api-test-'));
      cpSync(REPORT_FOLDER, folder, { recursive: true });
      const coreReport = join(folder, 'core.api.md');
      writeFileSync(coreReport, readFileSync(coreReport, 'utf8').replace(/^export function digestOf\(.*$/m, ''));
      const changed = runApiReports({ reportFolder: folder, quiet: true }).filter((result) => result.changed).map(entryName);
      expect(changed).toEqual(['@berth/core']);
    });
  });
});

// Types of scripts/api-report.mjs, for the test in test/api.
export interface ApiEntryPoint {
  packageName: string;
  subpath: string;
  dir: string;
  declarations: string;
  reportName: string;
}
export interface ApiReportResult {
  packageName: string;
  subpath: string;
  report: string;
  changed: boolean;
  warnings: string[];
}
export declare const REPO_ROOT: string;
export declare const REPORT_FOLDER: string;
export declare function publicEntryPoints(root?: string): ApiEntryPoint[];
export declare function buildDeclarations(root?: string): void;
export declare function runApiReports(options?: { update?: boolean; reportFolder?: string; root?: string; quiet?: boolean }): ApiReportResult[];

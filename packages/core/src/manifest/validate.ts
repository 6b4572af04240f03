import type { z } from 'zod';
import { RegistryError } from '../errors.js';

/** How many zod issues an error's detail lists; a hostile manifest could produce thousands. */
const MAX_REPORTED_ISSUES = 20;

export interface ManifestIssue {
  /** Where in the document, for example `layers[0].digest`; empty for the document itself. */
  path: string;
  message: string;
}

/** A value quoted for an error message, cut short: the offending field may be megabytes long. */
export function describeValue(value: unknown, maxLength = 80): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > maxLength ? `${text.slice(0, maxLength)}...` : text;
}

function formatPath(path: readonly PropertyKey[]): string {
  let text = '';
  for (const key of path) {
    if (typeof key === 'number') text += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$]*$/.test(key)) text += text === '' ? key : `.${key}`;
    else text += `[${JSON.stringify(String(key))}]`;
  }
  return text;
}

// Zod's default for a missing key reads "expected string, received undefined"; say what it means.
const missingFieldMessages: z.core.$ZodErrorMap = (issue) =>
  issue.input === undefined ? 'required field is missing' : undefined;

/**
 * Validates a decoded manifest document against its format's schema.
 * Any problem becomes MANIFEST_INVALID, naming the format, the first failing field and why.
 */
export function validateManifestDocument<Schema extends z.ZodType>(
  schema: Schema,
  document: unknown,
  formatName: string,
): z.output<Schema> {
  const result = schema.safeParse(document, { error: missingFieldMessages });
  if (result.success) return result.data;
  const issues: ManifestIssue[] = result.error.issues
    .slice(0, MAX_REPORTED_ISSUES)
    .map((issue) => ({ path: formatPath(issue.path), message: issue.message }));
  const first = issues[0];
  const where = first === undefined ? '' : first.path === '' ? `: ${first.message}` : `: ${first.path}: ${first.message}`;
  throw new RegistryError('MANIFEST_INVALID', `invalid ${formatName}${where}`, { detail: { issues } });
}

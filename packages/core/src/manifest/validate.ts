import type { z } from 'zod';
import { RegistryError } from '../errors.js';

/** How many zod issues an error's detail lists; a hostile manifest could produce thousands. */
const MAX_REPORTED_ISSUES = 20;

export interface ManifestIssue {
  /** Where in the document, for example `layers[0].digest`; empty for the document itself. */
  path: string;
  message: string;
  /** For a descriptor's bad `size`: the descriptor's digest, so the error names it. */
  digest?: string;
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

/** The digest of the descriptor whose `size` is at `path`, when it has a string one of sane length. */
function descriptorDigestAt(document: unknown, path: readonly PropertyKey[]): string | undefined {
  const field = path[path.length - 1];
  if (field !== 'size' || path.length < 2) return undefined;
  let value: unknown = document;
  for (const key of path.slice(0, -1)) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  const digest = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)['digest'] : undefined;
  return typeof digest === 'string' && digest.length <= 200 ? digest : undefined;
}

function describedIssue(document: unknown, path: readonly PropertyKey[], message: string): ManifestIssue {
  const digest = descriptorDigestAt(document, path);
  if (digest === undefined) return { path: formatPath(path), message };
  return { path: formatPath(path), message: `${message} (descriptor ${digest})`, digest };
}

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
    .map((issue) => describedIssue(document, issue.path, issue.message));
  const first = issues[0];
  const where = first === undefined ? '' : first.path === '' ? `: ${first.message}` : `: ${first.path}: ${first.message}`;
  throw new RegistryError('MANIFEST_INVALID', `invalid ${formatName}${where}`, { detail: { issues } });
}

import { isMap, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import * as z from 'zod';
import type { AccessRule } from '@berth/core';
import { AuthConfigError, readConfigFile } from './config-error.js';

/** Reads an access file (YAML, or JSON, which is YAML): a list of access rules (`AccessRule` from `@berth/core`). */
export async function loadAccessFile(path: string): Promise<AccessRule[]> {
  return parseAccessRules(await readConfigFile(path), path);
}

/**
 * Parses and checks access rules; `source` names the file in errors. Every problem found is reported,
 * one per line of the {@link AuthConfigError}'s message, each with its line and path.
 */
export function parseAccessRules(text: string, source: string): AccessRule[] {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false });
  const lineAt = (offset: number) => lineCounter.linePos(offset).line;
  if (document.errors.length > 0) {
    const messages = document.errors.map((error) => `${source} line ${lineAt(error.pos[0])}: ${error.message}`);
    throw new AuthConfigError(messages.join('\n'));
  }
  const parsed = ACCESS_RULES.safeParse(document.toJS());
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.flatMap(({ path, message, ...issue }) => {
    const at = path as (string | number)[];
    if (issue.code !== 'unrecognized_keys') return [{ path: at, offset: offsetOf(document, at), message }];
    // One problem per key, at the key's own line.
    return issue.keys.map((key) => ({ path: [...at, key], offset: keyOffsetOf(document, at, key), message }));
  });
  const describeProblem = ({ path, offset, message }: (typeof problems)[number]) =>
    `${source} line ${lineAt(offset)}${path.length > 0 ? ` (${formatPath(path)})` : ''}: ${message}`;
  throw new AuthConfigError(problems.map(describeProblem).join('\n'));
}

const ACTIONS = ['pull', 'push', 'delete', '*'] as const;
const RULE_KEYS = 'repositories, users and actions';

/** Missing keys reach the list schemas as undefined. */
const list = <T extends z.ZodType>(item: T, what: string) =>
  z
    .array(item, {
      error: (issue) => (issue.input === undefined ? `missing (a rule needs ${RULE_KEYS})` : `expected a list of ${what}`),
    })
    .min(1, { error: `must name at least one of the ${what}` });

const ACCESS_RULE = z.strictObject(
  {
    repositories: list(
      z.string({ error: 'expected a repository pattern (a string)' }).superRefine((pattern, context) => {
        const problem = patternProblem(pattern);
        if (problem !== undefined) context.addIssue({ code: 'custom', message: problem });
      }),
      'repository patterns',
    ),
    users: list(z.string({ error: 'expected a user name (a string)' }).min(1, { error: 'empty user name' }), 'users'),
    actions: list(
      z.enum(ACTIONS, {
        error: (issue) => `invalid action ${JSON.stringify(issue.input)} (expected pull, push, delete or *)`,
      }),
      'actions',
    ),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys' ? `unknown key (a rule has ${RULE_KEYS})` : `expected a rule with ${RULE_KEYS}`,
  },
);

const ACCESS_RULES = z.array(ACCESS_RULE, { error: 'expected a list of rules' });

const SEGMENT = /^(?:[a-z0-9._-]|\*|\$\{user\})+$/;

/** What is wrong with a repository pattern (compilePattern in core would silently never match it). */
function patternProblem(pattern: string): string | undefined {
  const at = `invalid repository pattern ${JSON.stringify(pattern)}`;
  for (const segment of pattern.split('/')) {
    if (segment === '') return `${at}: empty path segment`;
    if (segment === '**') continue;
    if (segment.includes('**')) return `${at}: "**" must be a whole segment`;
    if (!SEGMENT.test(segment)) {
      return `${at}: segment ${JSON.stringify(segment)} may only hold a-z, 0-9, ".", "_", "-", "*" and "\${user}"`;
    }
  }
  return undefined;
}

/** Where the node at `path` starts, or its nearest existing ancestor (a missing key points at its rule). */
function offsetOf(document: Document, path: readonly (string | number)[]): number {
  for (let depth = path.length; depth > 0; depth--) {
    const node = document.getIn(path.slice(0, depth), true) as { range?: [number, number, number] } | undefined;
    if (node?.range) return node.range[0];
  }
  return document.contents?.range?.[0] ?? 0;
}

function keyOffsetOf(document: Document, path: readonly (string | number)[], key: string): number {
  const map = path.length > 0 ? document.getIn(path, true) : document.contents;
  const pair = isMap(map) ? map.items.find((item) => isScalar(item.key) && item.key.value === key) : undefined;
  return isScalar(pair?.key) && pair.key.range ? pair.key.range[0] : offsetOf(document, path);
}

/** `[1].actions[0]`. */
function formatPath(path: readonly (string | number)[]): string {
  return path.map((part, index) => (typeof part === 'number' ? `[${part}]` : index === 0 ? part : `.${part}`)).join('');
}

import type { Context } from 'koa';
import { RegistryError, type TagSummary } from '@berth/core';
import { isValidTag } from '@berth/core/internal';
import { queryParam } from '../context.js';

/** A required query parameter; 400 when it is missing or empty. */
export function requiredParam(ctx: Context, name: string): string {
  const value = queryParam(ctx, name);
  if (value === undefined || value === '') throw badParameter(`the query parameter "${name}" is required`);
  return value;
}

/** The page size `n`: a whole number; 400 otherwise. */
export function pageSize(ctx: Context): number | undefined {
  const n = queryParam(ctx, 'n');
  if (n === undefined) return undefined;
  if (!/^\d{1,6}$/.test(n)) throw badParameter(`invalid page size n="${n}"`);
  return Number(n);
}

/** A tag name (never a digest: `DELETE /api/tag` removes a tag only). */
export function tagParam(ctx: Context): string {
  const tag = requiredParam(ctx, 'tag');
  if (!isValidTag(tag)) throw new RegistryError('TAG_INVALID', `"${tag}" is not a valid tag`, { status: 400, detail: { tag } });
  return tag;
}

/** The tags' cursor: the last tag's name and push time, opaque to the page (base64url JSON). */
export function tagCursor(tag: TagSummary): string {
  return Buffer.from(JSON.stringify({ n: tag.name, p: tag.pushedAt.getTime() })).toString('base64url');
}

export function parseTagCursor(cursor: string): { name: string; pushedAt: Date } {
  try {
    const { n, p } = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { n?: unknown; p?: unknown };
    if (typeof n === 'string' && typeof p === 'number') return { name: n, pushedAt: new Date(p) };
  } catch {
    // Answered below.
  }
  throw badParameter('invalid cursor "last": pass the "next" of the previous page');
}

export function badParameter(message: string): RegistryError {
  return new RegistryError('UNSUPPORTED', message, { status: 400 });
}

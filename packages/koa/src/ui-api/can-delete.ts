import type { Context } from 'koa';
import { covers, repositoryScope } from '@berth/core/internal';
import type { AccessGate } from '../access-control.js';

/** Whether the caller may delete in the repository (the pages offer deleting only then); a refusal is "no". */
export async function canDelete(ctx: Context, access: AccessGate, repository: string): Promise<boolean> {
  const scope = repositoryScope(repository, ['delete']);
  return covers(await access.granted(ctx, [scope]), scope);
}

/**
 * A tag pattern of a retention rule: `*` stands for any run of characters (none included), `?` for
 * one; everything else is itself. Tags have no `/`, so unlike repository patterns there are no segments.
 */
export function compileTagPattern(pattern: string): (tag: string) => boolean {
  const source = [...pattern].map((character) => (character === '*' ? '.*' : character === '?' ? '.' : escapeRegExp(character))).join('');
  const regexp = new RegExp(`^${source}$`, 's');
  return (tag) => regexp.test(tag);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

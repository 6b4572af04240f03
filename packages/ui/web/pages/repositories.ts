import { api, type RepositorySummary } from '../api.js';
import type { PageContext } from '../app.js';
import { h, replaceChildren, scrollingTable } from '../dom.js';
import { formatBytes, formatRelativeTime } from '../format.js';
import { href, updateQuery } from '../router.js';
import { timeElement } from '../parts/time.js';

const PAGE_SIZE = 50;
const TYPING_PAUSE_MS = 200;

/** All repositories the user may pull: search as you type, in pages of 50 (keyset cursors, for 10,000+). */
export async function renderRepositories({ main, route, signal }: PageContext): Promise<void> {
  document.title = 'Repositories · berth';
  const search = h('input', {
    type: 'search',
    id: 'repository-search',
    name: 'q',
    value: route.params.get('q') ?? '',
    autocomplete: 'off',
    spellcheck: 'false',
    'aria-controls': 'repository-results',
  });
  const results = h('div', { id: 'repository-results', 'aria-live': 'polite' });
  replaceChildren(
    main,
    h('h1', { tabindex: -1 }, 'Repositories'),
    h(
      'form',
      { role: 'search', class: 'filter', onsubmit: (event: Event) => event.preventDefault() },
      h('label', { for: 'repository-search' }, 'Search repositories'),
      search,
    ),
    results,
  );

  let pending: AbortController | undefined;
  const show = async (q: string, last: string | null) => {
    pending?.abort();
    const request = new AbortController();
    pending = request;
    signal.addEventListener('abort', () => request.abort(), { once: true });
    const page = await api.repositories({ q, n: PAGE_SIZE, last }, request.signal);
    if (request.signal.aborted) return;
    renderResults(results, page.items, page.next, q, last !== null);
  };

  let typing: ReturnType<typeof setTimeout> | undefined;
  search.addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      updateQuery({ q: search.value });
      show(search.value, null).catch((error: unknown) => {
        if (!(error instanceof DOMException && error.name === 'AbortError')) results.textContent = (error as Error).message;
      });
    }, TYPING_PAUSE_MS);
  });
  await show(route.params.get('q') ?? '', route.params.get('last'));
}

function renderResults(results: HTMLElement, repositories: RepositorySummary[], next: string | null, q: string, paged: boolean): void {
  if (repositories.length === 0) {
    replaceChildren(results, h('p', { class: 'empty' }, q ? `No repository matches “${q}”.` : 'No repositories yet.'));
    return;
  }
  const table = h(
    'table',
    { class: 'repositories' },
    h('caption', { class: 'visually-hidden' }, q ? `Repositories matching “${q}”` : 'Repositories'),
    h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col', class: 'number' }, 'Tags'), h('th', { scope: 'col', class: 'number' }, 'Size'), h('th', { scope: 'col' }, 'Last pushed'))),
    h(
      'tbody',
      null,
      repositories.map((repository) =>
        h(
          'tr',
          null,
          h('th', { scope: 'row' }, h('a', { href: href('/repository', { name: repository.name }) }, repository.name)),
          h('td', { class: 'number' }, repository.tagCount),
          h('td', { class: 'number' }, formatBytes(repository.size)),
          h('td', null, repository.lastPushed ? timeElement(repository.lastPushed, formatRelativeTime(repository.lastPushed)) : '—'),
        ),
      ),
    ),
  );
  replaceChildren(
    results,
    scrollingTable('Repositories', table),
    h(
      'nav',
      { class: 'pager', 'aria-label': 'Pages of repositories' },
      paged && h('a', { href: href('/', { q }) }, 'First page'),
      next !== null && h('a', { href: href('/', { q, last: next }), rel: 'next' }, 'Next page'),
    ),
  );
}

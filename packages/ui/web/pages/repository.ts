import { api, ApiError, type TagList, type TagSummary } from '../api.js';
import type { PageContext } from '../app.js';
import { h, replaceChildren, scrollingTable } from '../dom.js';
import { formatBytes, formatPlatform, formatRelativeTime, mediaTypeName, shortDigest } from '../format.js';
import { href, updateQuery } from '../router.js';
import { confirmAction } from '../parts/confirm-dialog.js';
import { announce, clearError, showError } from '../parts/notices.js';
import { timeElement } from '../parts/time.js';

const PAGE_SIZE = 100;
const TYPING_PAUSE_MS = 200;
type Sort = 'name' | '-pushed';

/** One repository's tags: filter, sort by name or push time, shared digests marked, delete when allowed. */
export async function renderRepository({ main, route, signal }: PageContext): Promise<void> {
  const repository = route.params.get('name') ?? '';
  document.title = `${repository} · berth`;
  const state = {
    q: route.params.get('q') ?? '',
    sort: (route.params.get('sort') === '-pushed' ? '-pushed' : 'name') as Sort,
    last: route.params.get('last'),
  };
  const filter = h('input', { type: 'search', id: 'tag-filter', value: state.q, autocomplete: 'off', spellcheck: 'false', 'aria-controls': 'tag-results' });
  const results = h('div', { id: 'tag-results' });
  const list = await api.tags({ repository, q: state.q, sort: state.sort, n: PAGE_SIZE, last: state.last }, signal);
  replaceChildren(
    main,
    breadcrumbs(repository),
    h('h1', { tabindex: -1 }, repository),
    h(
      'form',
      { role: 'search', class: 'filter', onsubmit: (event: Event) => event.preventDefault() },
      h('label', { for: 'tag-filter' }, 'Filter tags'),
      filter,
    ),
    results,
  );

  let pending: AbortController | undefined;
  const reload = async () => {
    pending?.abort();
    const request = new AbortController();
    pending = request;
    signal.addEventListener('abort', () => request.abort(), { once: true });
    updateQuery({ name: repository, q: state.q, sort: state.sort === 'name' ? null : state.sort, last: state.last });
    try {
      const next = await api.tags({ repository, q: state.q, sort: state.sort, n: PAGE_SIZE, last: state.last }, request.signal);
      if (!request.signal.aborted) show(next);
    } catch (error) {
      if (!request.signal.aborted) showError((error as Error).message);
    }
  };
  const show = (tags: TagList) => renderTags(results, tags, state, { reload, sortBy });
  const sortBy = (sort: Sort) => {
    state.sort = sort;
    state.last = null;
    void reload().then(() => document.getElementById(`sort-${sort}`)?.focus());
  };

  let typing: ReturnType<typeof setTimeout> | undefined;
  filter.addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      state.q = filter.value;
      state.last = null;
      void reload();
    }, TYPING_PAUSE_MS);
  });
  show(list);
}

export function breadcrumbs(repository: string, reference?: string): HTMLElement {
  return h(
    'nav',
    { 'aria-label': 'Breadcrumbs', class: 'breadcrumbs' },
    h(
      'ol',
      null,
      h('li', null, h('a', { href: href('/') }, 'Repositories')),
      h('li', null, reference === undefined ? h('span', { 'aria-current': 'page' }, repository) : h('a', { href: href('/repository', { name: repository }) }, repository)),
      reference !== undefined && h('li', null, h('span', { 'aria-current': 'page' }, reference.startsWith('sha256:') ? shortDigest(reference) : reference)),
    ),
  );
}

interface TagActions {
  reload: () => Promise<void>;
  sortBy: (sort: Sort) => void;
}

function renderTags(results: HTMLElement, list: TagList, state: { q: string; sort: Sort; last: string | null }, actions: TagActions): void {
  if (list.tags.length === 0) {
    replaceChildren(results, h('p', { class: 'empty' }, state.q ? `No tag matches “${state.q}”.` : 'This repository has no tags.'));
    return;
  }
  // Tags that point at the same manifest: each group gets a marker and names its siblings.
  const tagsByDigest = new Map<string, string[]>();
  for (const tag of list.tags) tagsByDigest.set(tag.digest, [...(tagsByDigest.get(tag.digest) ?? []), tag.name]);
  const sharedGroups = [...tagsByDigest].filter(([, names]) => names.length > 1).map(([digest]) => digest);

  const sortHeader = (label: string, sort: Sort) =>
    h(
      'th',
      { scope: 'col', 'aria-sort': state.sort === sort ? (sort === 'name' ? 'ascending' : 'descending') : null },
      h('button', { type: 'button', class: 'sort', id: `sort-${sort}`, onclick: () => actions.sortBy(sort) }, label, state.sort === sort ? (sort === 'name' ? ' ▲' : ' ▼') : ''),
    );
  const row = (tag: TagSummary) => {
    const siblings = (tagsByDigest.get(tag.digest) ?? []).filter((name) => name !== tag.name);
    const group = sharedGroups.indexOf(tag.digest);
    return h(
      'tr',
      { 'data-tag': tag.name, 'data-digest': tag.digest },
      h('th', { scope: 'row' }, h('a', { href: href('/manifest', { repository: list.repository, reference: tag.name }) }, tag.name)),
      h(
        'td',
        null,
        h('a', { href: href('/manifest', { repository: list.repository, reference: tag.digest }), class: 'digest', title: tag.digest }, shortDigest(tag.digest)),
        siblings.length > 0 && h('span', { class: `shared shared-${group % 6}`, title: `Same digest as ${siblings.join(', ')}` }, `same as ${siblings.join(', ')}`),
      ),
      h('td', { title: tag.mediaType }, mediaTypeName(tag.mediaType)),
      h('td', null, tag.platforms.length === 0 ? '—' : h('ul', { class: 'platforms' }, tag.platforms.map((platform) => h('li', null, formatPlatform(platform))))),
      h('td', { class: 'number' }, formatBytes(tag.size)),
      h('td', null, timeElement(tag.pushedAt, formatRelativeTime(tag.pushedAt))),
      list.canDelete &&
        h('td', null, h('button', { type: 'button', class: 'danger small', 'aria-label': `Delete tag ${tag.name}`, onclick: () => deleteTag(list.repository, tag, siblings, actions) }, 'Delete')),
    );
  };
  const table = h(
    'table',
    { class: 'tags' },
    h('caption', { class: 'visually-hidden' }, `Tags of ${list.repository}`),
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        sortHeader('Tag', 'name'),
        h('th', { scope: 'col' }, 'Digest'),
        h('th', { scope: 'col' }, 'Type'),
        h('th', { scope: 'col' }, 'Platforms'),
        h('th', { scope: 'col', class: 'number' }, 'Size'),
        sortHeader('Pushed', '-pushed'),
        list.canDelete && h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')),
      ),
    ),
    h('tbody', null, list.tags.map(row)),
  );
  replaceChildren(
    results,
    scrollingTable(`Tags of ${list.repository}`, table),
    h(
      'nav',
      { class: 'pager', 'aria-label': 'Pages of tags' },
      state.last !== null && h('a', { href: href('/repository', { name: list.repository, q: state.q, sort: state.sort === 'name' ? null : state.sort }) }, 'First page'),
      list.next !== null &&
        h('a', { href: href('/repository', { name: list.repository, q: state.q, sort: state.sort === 'name' ? null : state.sort, last: list.next }), rel: 'next' }, 'Next page'),
    ),
  );
}

async function deleteTag(repository: string, tag: TagSummary, siblings: string[], actions: TagActions): Promise<void> {
  const confirmed = await confirmAction({
    title: `Delete tag ${tag.name}?`,
    message:
      siblings.length > 0
        ? `The tag ${repository}:${tag.name} goes away; the manifest stays under ${siblings.join(', ')}.`
        : `The tag ${repository}:${tag.name} goes away. Pulling it will fail; the manifest stays reachable by digest until it is collected.`,
    confirm: 'Delete tag',
  });
  if (!confirmed) return;
  clearError();
  try {
    await api.deleteTag(repository, tag.name);
  } catch (error) {
    showError(error instanceof ApiError ? `The tag was not deleted: ${error.message} (${error.code})` : `The tag was not deleted: ${(error as Error).message}`);
    return;
  }
  announce(`Tag ${tag.name} deleted`);
  await actions.reload();
  // The button that had focus is gone with its row: start again from the page's heading.
  document.querySelector<HTMLElement>('main h1')?.focus();
}

import { ApiError, setApiPrefix } from './api.js';
import { h, replaceChildren } from './dom.js';
import { href, setRoutePrefix, startRouter, type Route } from './router.js';
import { currentSession, loadSession, refreshAccount } from './session.js';
import { clearError } from './parts/notices.js';
import { renderRepositories } from './pages/repositories.js';
import { renderRepository } from './pages/repository.js';
import { renderManifest } from './pages/manifest.js';
import { renderSignIn } from './pages/sign-in.js';

/** What a page renders into, and the signal that tells it the user has moved on. */
export interface PageContext {
  main: HTMLElement;
  route: Route;
  signal: AbortSignal;
}

const PAGES: Record<string, (page: PageContext) => Promise<void>> = {
  '/': renderRepositories,
  '/repository': renderRepository,
  '/manifest': renderManifest,
  '/sign-in': renderSignIn,
};

const prefix = document.querySelector<HTMLMetaElement>('meta[name="berth-ui-prefix"]')?.content ?? '';
setApiPrefix(prefix);
setRoutePrefix(prefix);

let current: AbortController | undefined;
let firstRender = true;

async function render(route: Route): Promise<void> {
  current?.abort();
  const controller = new AbortController();
  current = controller;
  const main = document.getElementById('main')!;
  clearError();
  refreshAccount();
  const page = PAGES[route.path] ?? renderNotFound;
  main.setAttribute('aria-busy', 'true');
  try {
    await page({ main, route, signal: controller.signal });
  } catch (error) {
    if (controller.signal.aborted) return;
    renderFailure(main, error);
  } finally {
    if (!controller.signal.aborted) main.removeAttribute('aria-busy');
  }
  if (controller.signal.aborted) return;
  // After a navigation, focus goes to the new page's heading so keyboard and screen reader users start there.
  if (!firstRender) main.querySelector<HTMLElement>('h1')?.focus();
  firstRender = false;
}

async function renderNotFound({ main }: PageContext): Promise<void> {
  document.title = 'Not found · berth';
  replaceChildren(main, h('h1', { tabindex: -1 }, 'Page not found'), h('p', null, h('a', { href: href('/') }, 'All repositories')));
}

/** A page whose data could not be read: say why, and what to do about it. */
function renderFailure(main: HTMLElement, error: unknown): void {
  const session = currentSession();
  let title = 'Something went wrong';
  let advice: (Node | string)[] = [error instanceof Error ? error.message : String(error)];
  if (error instanceof ApiError) {
    if (error.status === 401) {
      title = 'Sign in to see this';
      advice = session.signIn.available
        ? [h('a', { href: href('/sign-in', { next: `${location.pathname}${location.search}` }) }, 'Sign in'), ' to see this page.']
        : [error.message];
    } else if (error.status === 403) {
      title = 'Not allowed';
      advice = [`You may not see this${session.user ? ` as ${session.user}` : ''}: ${error.message}`];
    } else if (error.status === 404) {
      title = 'Not found';
      advice = [error.message];
    }
  }
  document.title = `${title} · berth`;
  replaceChildren(main, h('h1', { tabindex: -1 }, title), h('p', null, ...advice), h('p', null, h('a', { href: href('/') }, 'All repositories')));
}

// The skip link focuses <main> itself: without a URL fragment left behind, and the same in every browser.
document.querySelector('.skip-link')?.addEventListener('click', (event) => {
  event.preventDefault();
  document.getElementById('main')?.focus();
});

await loadSession();
startRouter((route) => void render(route));

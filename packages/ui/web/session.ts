import { api, setCsrfToken, type Session } from './api.js';
import { h, replaceChildren } from './dom.js';
import { currentHref, currentRoute, href, navigate } from './router.js';
import { announce, showError } from './parts/notices.js';

let session: Session = { user: null, csrfToken: null, signIn: { available: true } };

export function currentSession(): Session {
  return session;
}

export async function loadSession(): Promise<void> {
  try {
    useSession(await api.session());
  } catch {
    // No session endpoint answered: browse anonymously; pages report their own errors.
    useSession({ user: null, csrfToken: null, signIn: { available: false, reason: 'the session service did not answer' } });
  }
}

export function useSession(next: Session): void {
  session = next;
  setCsrfToken(next.csrfToken);
  renderAccount();
}

/** The header's account corner and the read-only banner. */
function renderAccount(): void {
  const account = document.getElementById('account');
  const banner = document.getElementById('banner');
  if (account) {
    if (session.user !== null) {
      replaceChildren(
        account,
        h('span', { class: 'user' }, 'Signed in as ', h('strong', null, session.user)),
        h('button', { type: 'button', onclick: signOut }, 'Sign out'),
      );
    } else if (session.signIn.available && currentRoute().path !== '/sign-in') {
      replaceChildren(account, h('a', { href: href('/sign-in', { next: currentHref() }) }, 'Sign in'));
    } else {
      account.replaceChildren();
    }
  }
  if (banner) {
    if (!session.signIn.available) {
      replaceChildren(banner, h('p', { class: 'read-only' }, h('strong', null, 'Read-only. '), `Signing in here is not available: ${session.signIn.reason}.`));
    } else {
      banner.replaceChildren();
    }
  }
}

/** Called after each navigation: the sign-in link carries the page to come back to. */
export function refreshAccount(): void {
  renderAccount();
}

async function signOut(): Promise<void> {
  try {
    await api.signOut();
  } catch (error) {
    showError(`Signing out failed: ${(error as Error).message}`);
    return;
  }
  useSession({ user: null, csrfToken: null, signIn: session.signIn });
  announce('Signed out');
  navigate(currentHref(), { replace: true });
}

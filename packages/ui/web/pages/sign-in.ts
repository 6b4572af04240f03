import { api, ApiError } from '../api.js';
import type { PageContext } from '../app.js';
import { h, replaceChildren } from '../dom.js';
import { href, navigate } from '../router.js';
import { currentSession, loadSession } from '../session.js';
import { announce } from '../parts/notices.js';

/** The sign-in form (htpasswd users): a cookie session, then back to the page that sent the user here. */
export async function renderSignIn({ main, route }: PageContext): Promise<void> {
  document.title = 'Sign in · berth';
  const session = currentSession();
  const next = safeNext(route.params.get('next'));
  if (!session.signIn.available) {
    replaceChildren(main, h('h1', { tabindex: -1 }, 'Sign in'), h('p', null, `Signing in here is not available: ${session.signIn.reason}.`));
    return;
  }
  const username = h('input', { id: 'username', name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const password = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const error = h('p', { id: 'sign-in-error', class: 'error', role: 'alert' });
  const submit = h('button', { type: 'submit' }, 'Sign in');
  const form = h(
    'form',
    { class: 'sign-in', 'aria-describedby': 'sign-in-error' },
    h('div', { class: 'field' }, h('label', { for: 'username' }, 'Username'), username),
    h('div', { class: 'field' }, h('label', { for: 'password' }, 'Password'), password),
    error,
    submit,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    error.textContent = '';
    try {
      await api.signIn(username.value, password.value);
      await loadSession();
      announce(`Signed in as ${currentSession().user ?? username.value}`);
      navigate(next, { replace: true });
    } catch (failure) {
      password.value = '';
      error.textContent =
        failure instanceof ApiError && failure.status === 401
          ? 'Wrong username or password.'
          : failure instanceof ApiError && failure.status === 429
            ? 'Too many attempts; wait a moment and try again.'
            : `Signing in failed: ${(failure as Error).message}`;
      password.setAttribute('aria-invalid', 'true');
      password.focus();
    } finally {
      submit.disabled = false;
    }
  });
  replaceChildren(main, h('h1', { tabindex: -1 }, 'Sign in'), form);
  username.focus();
}

/** Only a page of this UI, never another site (an open redirect). */
function safeNext(next: string | null): string {
  const home = href('/');
  if (next === null || !next.startsWith(home) || next.startsWith('//')) return home;
  return next;
}

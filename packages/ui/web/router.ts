// History routing under the mount prefix: /, /repository?name=…, /manifest?repository=…&reference=…, /sign-in.

export interface Route {
  /** The path under the prefix: '/', '/repository', … */
  path: string;
  params: URLSearchParams;
}

let prefix = '';

export function setRoutePrefix(value: string): void {
  prefix = value;
}

/** The URL of a page: `href('/repository', { name: 'team/app' })`. Empty parameters are left out. */
export function href(path: string, params: Record<string, string | null | undefined> = {}): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== '') search.set(name, value);
  }
  return `${prefix}${path}${search.toString() === '' ? '' : `?${search}`}`;
}

export function currentRoute(): Route {
  const path = location.pathname.startsWith(prefix) ? location.pathname.slice(prefix.length) : location.pathname;
  return { path: path === '' ? '/' : path, params: new URLSearchParams(location.search) };
}

/** The current page's URL under the prefix, to come back to after signing in. */
export function currentHref(): string {
  return `${location.pathname}${location.search}`;
}

let onNavigate: (route: Route) => void = () => {};

export function navigate(url: string, options: { replace?: boolean } = {}): void {
  if (options.replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  onNavigate(currentRoute());
}

/** Rewrites the query of the current page without rendering it again (search as you type, filters). */
export function updateQuery(params: Record<string, string | null | undefined>): void {
  history.replaceState(null, '', href(currentRoute().path, params));
}

/** Renders the page for every link followed inside the UI and every back/forward. */
export function startRouter(render: (route: Route) => void): void {
  onNavigate = render;
  document.addEventListener('click', (event) => {
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const anchor = (event.target as Element | null)?.closest?.('a');
    if (!anchor || anchor.target || anchor.hasAttribute('download')) return;
    const url = new URL(anchor.href, location.href);
    if (url.origin !== location.origin) return;
    if (!(url.pathname === `${prefix}/` || url.pathname.startsWith(`${prefix}/`))) return;
    if (url.pathname.startsWith(`${prefix}/api/`) || url.hash) return;
    event.preventDefault();
    navigate(`${url.pathname}${url.search}`);
  });
  addEventListener('popstate', () => render(currentRoute()));
  render(currentRoute());
}

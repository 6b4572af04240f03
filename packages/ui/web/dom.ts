/** What `h` accepts as children: nodes, text, and nothing (skipped), nested freely. */
export type Child = Node | string | number | null | undefined | false | readonly Child[];

type PropValue = string | number | boolean | null | undefined | ((event: never) => void);
export type Props = Record<string, PropValue>;

/**
 * Builds an element. Text always goes in as text nodes (never as HTML), so registry content such as labels
 * and annotations cannot inject markup. `onclick`-style props become listeners; `true` sets an empty
 * attribute; `false`, null and undefined leave the attribute out.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props?: Props | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === 'function') {
      element.addEventListener(name.slice(2), value as EventListener);
    } else if (name === 'class') {
      element.className = String(value);
    } else {
      element.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(element, children);
  return element;
}

export function append(parent: Node, children: readonly Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces everything in `parent` with `children`. */
export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/**
 * A table in a region that scrolls sideways on a narrow screen. Only when it does overflow is the region a tab
 * stop (so the keyboard can scroll it); otherwise it would be one more stop before every table's links.
 */
export function scrollingTable(label: string, table: HTMLTableElement): HTMLElement {
  const region = h('div', { class: 'table-scroll', role: 'region', 'aria-label': label }, table);
  requestAnimationFrame(() => {
    if (region.scrollWidth > region.clientWidth) region.tabIndex = 0;
  });
  return region;
}

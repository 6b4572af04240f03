import { h, replaceChildren } from '../dom.js';

const SHOWN_MS = 5000;
let hide: ReturnType<typeof setTimeout> | undefined;

/** Says something to screen readers (and shows it for a few seconds) without moving focus: "Copied", "Tag deleted". */
export function announce(message: string): void {
  const region = document.getElementById('status');
  if (!region) return;
  region.textContent = '';
  clearTimeout(hide);
  // A new text node in a live region is what screen readers announce.
  setTimeout(() => {
    region.textContent = message;
    hide = setTimeout(() => (region.textContent = ''), SHOWN_MS);
  }, 50);
}

/** An error the user has to see: shown in the page's alert region (assertive for screen readers). */
export function showError(message: string): void {
  const region = document.getElementById('alert');
  if (region) replaceChildren(region, h('p', null, message));
}

export function clearError(): void {
  document.getElementById('alert')?.replaceChildren();
}

import { h, replaceChildren } from '../dom.js';

/** Says something to screen readers (and shows it) without moving focus: "Copied", "Tag deleted". */
export function announce(message: string): void {
  const region = document.getElementById('status');
  if (region) {
    region.textContent = '';
    // A new text node in a live region is what screen readers announce.
    setTimeout(() => (region.textContent = message), 50);
  }
}

/** An error the user has to see: shown in the page's alert region (assertive for screen readers). */
export function showError(message: string): void {
  const region = document.getElementById('alert');
  if (region) replaceChildren(region, h('p', null, message));
}

export function clearError(): void {
  document.getElementById('alert')?.replaceChildren();
}

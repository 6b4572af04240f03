import { h } from '../dom.js';
import { announce } from './notices.js';

/**
 * A button that copies `text`. The Clipboard API needs a secure context (HTTPS or localhost); elsewhere the
 * text goes through a selected, off-screen textarea and execCommand, which plain-HTTP registries need.
 */
export function copyButton(text: string, what: string): HTMLButtonElement {
  return h(
    'button',
    {
      type: 'button',
      class: 'copy',
      'aria-label': `Copy ${what}`,
      'data-copy': text,
      onclick: async (event: MouseEvent) => {
        const button = event.currentTarget as HTMLButtonElement;
        const copied = await copyText(text);
        button.textContent = copied ? 'Copied' : 'Copy failed';
        announce(copied ? `Copied ${what}` : `Could not copy ${what}`);
        setTimeout(() => (button.textContent = 'Copy'), 2000);
      },
    },
    'Copy',
  );
}

async function copyText(text: string): Promise<boolean> {
  if (window.isSecureContext && navigator.clipboard) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // fall through to the textarea
    }
  }
  const area = h('textarea', { class: 'offscreen', readonly: true, 'aria-hidden': 'true' }, text);
  const focused = document.activeElement as HTMLElement | null;
  document.body.append(area);
  area.select();
  const copied = document.execCommand('copy');
  area.remove();
  focused?.focus();
  return copied;
}

import { h } from '../dom.js';

/**
 * Asks before something that cannot be undone. A modal <dialog>: focus moves into it, stays there, Escape
 * cancels, and focus returns to what opened it. Resolves true only when the user confirms.
 */
export function confirmAction(options: { title: string; message: string; confirm: string }): Promise<boolean> {
  const opener = document.activeElement as HTMLElement | null;
  return new Promise((resolve) => {
    const cancelButton = h('button', { type: 'button', value: 'cancel' }, 'Cancel');
    const confirmButton = h('button', { type: 'button', class: 'danger', value: 'confirm' }, options.confirm);
    const dialog = h(
      'dialog',
      { 'aria-labelledby': 'confirm-title', 'aria-describedby': 'confirm-message' },
      h('h2', { id: 'confirm-title' }, options.title),
      h('p', { id: 'confirm-message' }, options.message),
      h('div', { class: 'dialog-buttons' }, cancelButton, confirmButton),
    );
    const finish = (confirmed: boolean) => {
      dialog.close();
      dialog.remove();
      opener?.focus();
      resolve(confirmed);
    };
    cancelButton.addEventListener('click', () => finish(false));
    confirmButton.addEventListener('click', () => finish(true));
    dialog.addEventListener('cancel', (event) => {
      event.preventDefault();
      finish(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancelButton.focus(); // the safe choice first
  });
}

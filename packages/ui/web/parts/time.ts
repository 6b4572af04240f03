import { h } from '../dom.js';

/** A <time> with the exact time as its tooltip and machine-readable value. */
export function timeElement(iso: string, text: string): HTMLTimeElement {
  return h('time', { datetime: iso, title: new Date(iso).toLocaleString() }, text);
}

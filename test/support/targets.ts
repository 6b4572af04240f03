// The registries the interop suites run against. Select with
// BERTH_INTEROP_TARGETS=reference,berth (comma-separated names; default: all of them).
import { startBerth, startReferenceRegistry, type RunningRegistry } from './servers.js';

export interface InteropTarget {
  readonly name: string;
  start(): Promise<RunningRegistry>;
}

export const INTEROP_TARGETS: readonly InteropTarget[] = [
  { name: 'reference', start: () => startReferenceRegistry() },
  { name: 'berth', start: () => startBerth() },
];

export function selectedTargets(selection = process.env.BERTH_INTEROP_TARGETS): InteropTarget[] {
  if (selection === undefined || selection.trim() === '') return [...INTEROP_TARGETS];
  const names = selection.split(',').map((name) => name.trim()).filter((name) => name !== '');
  return names.map((name) => {
    const target = INTEROP_TARGETS.find((t) => t.name === name);
    if (!target) {
      throw new Error(`BERTH_INTEROP_TARGETS: unknown target "${name}" (known: ${INTEROP_TARGETS.map((t) => t.name).join(', ')})`);
    }
    return target;
  });
}

import { ConfigFileError, checkConfigDocument } from '../../src/config/config-file.js';

/** The path config documents are checked as, so error lines can be compared whole. */
export const CONFIG_FILE = '/etc/berth/berth.yml';

/** The problems `checkConfigDocument` finds in a config document, one line each; empty when it is valid. */
export function configProblems(document: unknown): string[] {
  try {
    checkConfigDocument(document, CONFIG_FILE);
  } catch (error) {
    if (error instanceof ConfigFileError) return [...error.problems];
    throw error;
  }
  return [];
}

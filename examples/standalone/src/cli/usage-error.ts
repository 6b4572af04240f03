/**
 * A mistake on the command line or in the configuration (an unknown flag, a bad value, a missing
 * argument, a config file with errors): printed as `berth: <message>` lines, without a stack trace,
 * and exit status 2.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

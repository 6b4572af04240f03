import type { RegistryService } from '@berth/registry';
import type { AccessGate } from '../access-control.js';
import type { UiSessions } from './ui-sessions.js';

/** What every route of the web UI's API needs. */
export interface UiRouteDeps {
  service: RegistryService;
  /** The same access seam as /v2, with the session's user as the principal when there is a session. */
  access: AccessGate;
  sessions: UiSessions;
}

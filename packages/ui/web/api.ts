// The JSON API under {prefix}/api/ (see the README's "Web UI" section): its shapes and one call per endpoint.

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Session {
  user: string | null;
  csrfToken: string | null;
  signIn: { available: true } | { available: false; reason: string };
}

export interface RepositorySummary {
  name: string;
  tagCount: number;
  size: number;
  lastPushed: string | null;
}

export interface Page<T> {
  items: T[];
  next: string | null;
}

export interface TagSummary {
  name: string;
  digest: string;
  mediaType: string;
  size: number;
  platforms: Platform[];
  pushedAt: string;
}

export interface TagList {
  repository: string;
  canDelete: boolean;
  tags: TagSummary[];
  next: string | null;
}

export interface Descriptor {
  digest: string;
  mediaType: string;
  size: number;
}

export interface ImageConfig {
  digest: string;
  os: string;
  architecture: string;
  variant?: string;
  created?: string;
  entrypoint?: string[] | null;
  cmd?: string[] | null;
  env: string[];
  labels: Record<string, string>;
  history: { created?: string; createdBy?: string; emptyLayer?: boolean; comment?: string }[];
}

export type ReferrerGroup = 'signature' | 'sbom' | 'attestation' | 'other';

export interface Referrer extends Descriptor {
  group: ReferrerGroup;
  artifactType: string | null;
  annotations: Record<string, string>;
}

export interface ManifestDetail extends Descriptor {
  repository: string;
  tags: string[];
  canDelete: boolean;
  raw: string;
  children: (Descriptor & { platform: Platform | null })[];
  config: ImageConfig | null;
  layers: Descriptor[];
  annotations: Record<string, string>;
  subject: string | null;
  artifactType: string | null;
  referrers: Referrer[];
  schema1: { servedAs: 'converted' | 'stored' | 'none'; note: string };
}

/** A refused or failed call, with the registry's error code (`UNAUTHORIZED`, `DENIED`, `NAME_UNKNOWN`, …). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

let apiRoot = '/api';
let csrfToken: string | null = null;

export function setApiPrefix(prefix: string): void {
  apiRoot = `${prefix}/api`;
}

/** The session's CSRF token, sent with every change. */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

type Query = Record<string, string | number | null | undefined>;

async function call<T>(method: string, path: string, query: Query = {}, body?: unknown, signal?: AbortSignal): Promise<T> {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== null && value !== undefined && value !== '') search.set(name, String(value));
  }
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrfToken !== null) headers['X-CSRF-Token'] = csrfToken;
  const url = `${apiRoot}/${path}${search.toString() === '' ? '' : `?${search}`}`;
  const init: RequestInit = { method, headers, credentials: 'same-origin' };
  if (body !== undefined) init.body = JSON.stringify(body);
  if (signal !== undefined) init.signal = signal;
  const response = await fetch(url, init);
  if (response.status === 204 || response.status === 202) return undefined as T;
  const text = await response.text();
  const json: unknown = text === '' ? undefined : safeParse(text);
  if (!response.ok) {
    const first = (json as { errors?: { code?: string; message?: string }[] } | undefined)?.errors?.[0];
    throw new ApiError(response.status, first?.code ?? 'UNKNOWN', first?.message ?? `${response.status} ${response.statusText}`);
  }
  return json as T;
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export const api = {
  session: () => call<Session>('GET', 'session'),
  signIn: (username: string, password: string) =>
    call<{ user: string; csrfToken: string }>('POST', 'session', {}, { username, password }),
  signOut: () => call<void>('DELETE', 'session'),
  repositories: async (query: { q?: string; n?: number; last?: string | null }, signal?: AbortSignal) => {
    const page = await call<{ repositories: RepositorySummary[]; next: string | null }>('GET', 'repositories', query, undefined, signal);
    return { items: page.repositories, next: page.next } satisfies Page<RepositorySummary>;
  },
  tags: (query: { repository: string; q?: string; sort?: string; n?: number; last?: string | null }, signal?: AbortSignal) =>
    call<TagList>('GET', 'tags', query, undefined, signal),
  manifest: (repository: string, reference: string, signal?: AbortSignal) =>
    call<ManifestDetail>('GET', 'manifest', { repository, reference }, undefined, signal),
  deleteTag: (repository: string, tag: string) => call<void>('DELETE', 'tag', { repository, tag }),
  deleteManifest: (repository: string, digest: string) => call<void>('DELETE', 'manifest', { repository, digest }),
};

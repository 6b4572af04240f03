import { api, ApiError, type ImageConfig, type ManifestDetail, type Referrer, type ReferrerGroup } from '../api.js';
import type { PageContext } from '../app.js';
import { h, replaceChildren, scrollingTable, type Child } from '../dom.js';
import { formatBytes, formatPlatform, formatRelativeTime, mediaTypeName, shortDigest } from '../format.js';
import { href, navigate } from '../router.js';
import { confirmAction } from '../parts/confirm-dialog.js';
import { copyButton } from '../parts/copy-button.js';
import { announce, clearError, showError } from '../parts/notices.js';
import { pullCommandsSection } from '../parts/pull-commands.js';
import { timeElement } from '../parts/time.js';
import { breadcrumbs } from './repository.js';

// An image's "artifact type" is its config's media type (as the referrers API reports it): not worth a line.
const IMAGE_CONFIG_TYPES = new Set(['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json']);

const REFERRER_GROUPS: [ReferrerGroup, string][] = [
  ['signature', 'Signatures'],
  ['sbom', 'SBOMs'],
  ['attestation', 'Attestations'],
  ['other', 'Other artifacts'],
];

/** One manifest: what it is, how to pull it, its platforms or config and layers, referrers, raw JSON. */
export async function renderManifest({ main, route, signal }: PageContext): Promise<void> {
  const repository = route.params.get('repository') ?? '';
  const reference = route.params.get('reference') ?? '';
  const byDigest = reference.includes(':');
  document.title = `${repository}${byDigest ? '@' : ':'}${reference} · berth`;
  const manifest = await api.manifest(repository, reference, signal);
  const tag = byDigest ? manifest.tags[0] : reference;
  replaceChildren(
    main,
    breadcrumbs(repository, reference),
    h('h1', { tabindex: -1 }, byDigest ? `${repository}@${shortDigest(reference)}` : `${repository}:${reference}`),
    summary(manifest),
    manifest.schema1.servedAs !== 'none' && h('aside', { class: 'note', 'aria-label': 'Older clients' }, h('strong', null, 'Schema 1 clients: '), manifest.schema1.note),
    actions(manifest, byDigest ? undefined : reference),
    pullCommandsSection(repository, tag, manifest.digest),
    manifest.children.length > 0 && childrenSection(manifest),
    manifest.config && configSection(manifest.config),
    manifest.layers.length > 0 && layersSection(manifest),
    Object.keys(manifest.annotations).length > 0 && section('annotations', 'Annotations', keyValues(manifest.annotations)),
    referrersSection(manifest),
    rawSection(manifest.raw),
  );
}

function section(id: string, title: string, ...content: Child[]): HTMLElement {
  return h('section', { 'aria-labelledby': `${id}-title`, id }, h('h2', { id: `${id}-title` }, title), ...content);
}

function manifestLink(repository: string, digest: string, text?: string): HTMLAnchorElement {
  return h('a', { href: href('/manifest', { repository, reference: digest }), class: 'digest', title: digest }, text ?? shortDigest(digest));
}

function summary(manifest: ManifestDetail): HTMLElement {
  return h(
    'dl',
    { class: 'summary' },
    h('dt', null, 'Digest'),
    h('dd', null, h('code', { class: 'digest-full' }, manifest.digest), ' ', copyButton(manifest.digest, 'digest')),
    h('dt', null, 'Type'),
    h('dd', { title: manifest.mediaType }, mediaTypeName(manifest.mediaType)),
    h('dt', null, 'Size'),
    h('dd', null, formatBytes(manifest.size), manifest.children.length > 0 ? ' (all platforms)' : ''),
    h('dt', null, 'Tags'),
    h(
      'dd',
      null,
      manifest.tags.length === 0
        ? 'none (reachable by digest only)'
        : h('ul', { class: 'inline' }, manifest.tags.map((tag) => h('li', null, h('a', { href: href('/manifest', { repository: manifest.repository, reference: tag }) }, tag)))),
    ),
    manifest.artifactType !== null && !IMAGE_CONFIG_TYPES.has(manifest.artifactType) && [h('dt', null, 'Artifact type'), h('dd', null, manifest.artifactType)],
    manifest.subject !== null && [h('dt', null, 'Refers to'), h('dd', null, manifestLink(manifest.repository, manifest.subject))],
  );
}

function actions(manifest: ManifestDetail, tag: string | undefined): Child {
  if (!manifest.canDelete) return null;
  return h(
    'div',
    { class: 'actions' },
    tag !== undefined && h('button', { type: 'button', class: 'danger', onclick: () => deleteTag(manifest, tag) }, `Delete tag ${tag}`),
    h('button', { type: 'button', class: 'danger', onclick: () => deleteManifest(manifest) }, 'Delete manifest'),
  );
}

async function deleteTag(manifest: ManifestDetail, tag: string): Promise<void> {
  const confirmed = await confirmAction({
    title: `Delete tag ${tag}?`,
    message: `The tag ${manifest.repository}:${tag} goes away; the manifest ${shortDigest(manifest.digest)} stays reachable by digest.`,
    confirm: 'Delete tag',
  });
  if (confirmed) await change(() => api.deleteTag(manifest.repository, tag), `Tag ${tag} deleted`, href('/manifest', { repository: manifest.repository, reference: manifest.digest }));
}

async function deleteManifest(manifest: ManifestDetail): Promise<void> {
  const tags = manifest.tags.length > 0 ? ` and its tags ${manifest.tags.join(', ')}` : '';
  const confirmed = await confirmAction({
    title: 'Delete this manifest?',
    message: `The manifest ${shortDigest(manifest.digest)}${tags} will be deleted from ${manifest.repository}. This cannot be undone.`,
    confirm: 'Delete manifest',
  });
  if (confirmed) await change(() => api.deleteManifest(manifest.repository, manifest.digest), 'Manifest deleted', href('/repository', { name: manifest.repository }));
}

async function change(call: () => Promise<void>, done: string, then: string): Promise<void> {
  clearError();
  try {
    await call();
  } catch (error) {
    showError(error instanceof ApiError ? `Nothing was deleted: ${error.message} (${error.code})` : `Nothing was deleted: ${(error as Error).message}`);
    return;
  }
  navigate(then, { replace: true });
  announce(done);
}

function childrenSection(manifest: ManifestDetail): HTMLElement {
  return section(
    'platforms',
    'Platforms',
    scrollingTable(
      'Platforms',
      h(
        'table',
        null,
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Platform'), h('th', { scope: 'col' }, 'Digest'), h('th', { scope: 'col' }, 'Type'), h('th', { scope: 'col', class: 'number' }, 'Size'))),
        h(
          'tbody',
          null,
          manifest.children.map((child) =>
            h(
              'tr',
              null,
              h('th', { scope: 'row' }, formatPlatform(child.platform)),
              h('td', null, manifestLink(manifest.repository, child.digest)),
              h('td', { title: child.mediaType }, mediaTypeName(child.mediaType)),
              h('td', { class: 'number' }, formatBytes(child.size)),
            ),
          ),
        ),
      ),
    ),
  );
}

function configSection(config: ImageConfig): HTMLElement {
  const command = (parts: string[] | null | undefined) => (parts && parts.length > 0 ? h('code', null, JSON.stringify(parts)) : '—');
  return section(
    'config',
    'Image configuration',
    h(
      'dl',
      { class: 'summary' },
      h('dt', null, 'Platform'),
      h('dd', null, formatPlatform(config)),
      config.created !== undefined && [h('dt', null, 'Created'), h('dd', null, timeElement(config.created, `${formatRelativeTime(config.created)} (${config.created})`))],
      h('dt', null, 'Entrypoint'),
      h('dd', null, command(config.entrypoint)),
      h('dt', null, 'Command'),
      h('dd', null, command(config.cmd)),
      h('dt', null, 'Environment'),
      h('dd', null, config.env.length === 0 ? '—' : h('ul', { class: 'env' }, config.env.map((line) => h('li', null, h('code', null, line))))),
      h('dt', null, 'Config digest'),
      h('dd', null, h('code', null, config.digest)),
    ),
    Object.keys(config.labels).length > 0 && [h('h3', null, 'Labels'), keyValues(config.labels)],
    config.history.length > 0 &&
      h(
        'details',
        null,
        h('summary', null, `History (${config.history.length} steps)`),
        h(
          'ol',
          { class: 'history' },
          config.history.map((step) =>
            h('li', null, h('code', null, step.createdBy ?? step.comment ?? '(no command)'), step.emptyLayer ? h('span', { class: 'muted' }, ' no layer') : null),
          ),
        ),
      ),
  );
}

function layersSection(manifest: ManifestDetail): HTMLElement {
  const total = manifest.layers.reduce((sum, layer) => sum + layer.size, 0);
  return section(
    'layers',
    `Layers (${manifest.layers.length}, ${formatBytes(total)})`,
    scrollingTable(
      'Layers',
      h(
        'table',
        null,
        h('thead', null, h('tr', null, h('th', { scope: 'col', class: 'number' }, '#'), h('th', { scope: 'col' }, 'Digest'), h('th', { scope: 'col' }, 'Type'), h('th', { scope: 'col', class: 'number' }, 'Size'))),
        h(
          'tbody',
          null,
          manifest.layers.map((layer, index) =>
            h(
              'tr',
              null,
              h('td', { class: 'number' }, index + 1),
              h('td', null, h('code', { title: layer.digest }, shortDigest(layer.digest))),
              h('td', { title: layer.mediaType }, mediaTypeName(layer.mediaType)),
              h('td', { class: 'number' }, formatBytes(layer.size)),
            ),
          ),
        ),
      ),
    ),
  );
}

function referrersSection(manifest: ManifestDetail): HTMLElement {
  if (manifest.referrers.length === 0) return section('referrers', 'Referrers', h('p', { class: 'muted' }, 'No signatures, SBOMs or attestations refer to this manifest.'));
  const groups = REFERRER_GROUPS.map(([group, title]) => [title, manifest.referrers.filter((referrer) => referrer.group === group)] as const).filter(([, referrers]) => referrers.length > 0);
  return section(
    'referrers',
    'Referrers',
    groups.map(([title, referrers]) =>
      h(
        'section',
        { class: 'referrer-group', 'aria-label': title },
        h('h3', null, `${title} (${referrers.length})`),
        h('ul', { class: 'referrers' }, referrers.map((referrer) => referrerItem(manifest.repository, referrer))),
      ),
    ),
  );
}

function referrerItem(repository: string, referrer: Referrer): HTMLElement {
  const created = referrer.annotations['org.opencontainers.image.created'];
  return h(
    'li',
    null,
    manifestLink(repository, referrer.digest),
    ' ',
    h('span', null, referrer.artifactType ?? mediaTypeName(referrer.mediaType)),
    ' · ',
    formatBytes(referrer.size),
    created !== undefined && [' · ', timeElement(created, formatRelativeTime(created))],
  );
}

function keyValues(values: Record<string, string>): HTMLElement {
  return h(
    'dl',
    { class: 'key-values' },
    Object.entries(values).map(([key, value]) => [h('dt', null, h('code', null, key)), h('dd', null, value)]),
  );
}

function rawSection(raw: string): HTMLElement {
  let pretty = raw;
  try {
    pretty = JSON.stringify(JSON.parse(raw), null, 2);
  } catch {
    // not JSON: show the bytes as they are
  }
  return section(
    'raw',
    'Raw manifest',
    h('p', null, copyButton(raw, 'raw manifest JSON'), h('span', { class: 'muted' }, ' copies the stored bytes exactly')),
    h('pre', { class: 'raw', tabindex: 0, 'aria-label': 'Raw manifest JSON' }, h('code', null, pretty)),
  );
}

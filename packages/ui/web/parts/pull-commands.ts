import { h, scrollingTable } from '../dom.js';
import { copyButton } from './copy-button.js';

interface PullTarget {
  /** `registry.example.com:5000/team/app:1.0` or `…/team/app@sha256:…` */
  reference: string;
  /** A local name for the tools that write to a file or directory. */
  localName: string;
}

/**
 * The pull commands of each client for one reference. The host is the page's own (what the browser reached);
 * over plain HTTP the commands carry each tool's switch for a registry without TLS (docker has none: its daemon
 * needs the registry in `insecure-registries`, except on localhost).
 */
export function pullCommands(reference: string, localName: string, secure = location.protocol === 'https:'): { tool: string; command: string }[] {
  const target: PullTarget = { reference, localName };
  return [
    { tool: 'docker', command: `docker pull ${target.reference}` },
    { tool: 'podman', command: `podman pull ${secure ? '' : '--tls-verify=false '}${target.reference}` },
    { tool: 'skopeo', command: `skopeo copy ${secure ? '' : '--src-tls-verify=false '}docker://${target.reference} oci:${target.localName}` },
    { tool: 'crane', command: `crane pull ${secure ? '' : '--insecure '}${target.reference} ${target.localName}.tar` },
  ];
}

/** The table of pull commands by tag (when there is one) and by digest, each with its copy button. */
export function pullCommandsSection(repository: string, tag: string | undefined, digest: string): HTMLElement {
  const base = `${location.host}/${repository}`;
  const localName = repository.split('/').pop() ?? repository;
  const targets = [
    ...(tag === undefined ? [] : [{ by: `tag ${tag}`, reference: `${base}:${tag}`, local: `${localName}-${tag}` }]),
    { by: 'digest', reference: `${base}@${digest}`, local: `${localName}-${digest.slice(7, 19)}` },
  ];
  const rows = targets.flatMap((target) =>
    pullCommands(target.reference, target.local).map(({ tool, command }) =>
      h(
        'tr',
        { 'data-tool': tool, 'data-by': target.by === 'digest' ? 'digest' : 'tag' },
        h('th', { scope: 'row' }, tool),
        h('td', null, target.by),
        h('td', null, h('code', { class: 'command' }, command)),
        h('td', null, copyButton(command, `${tool} command by ${target.by}`)),
      ),
    ),
  );
  return h(
    'section',
    { 'aria-labelledby': 'pull-title' },
    h('h2', { id: 'pull-title' }, 'Pull'),
    scrollingTable(
      'Pull commands',
      h(
        'table',
        { class: 'pull' },
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Client'), h('th', { scope: 'col' }, 'By'), h('th', { scope: 'col' }, 'Command'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Copy')))),
        h('tbody', null, rows),
      ),
    ),
  );
}

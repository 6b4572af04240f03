import { h } from '../dom.js';
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

/** The pull commands by tag (when there is one) and by digest, one line per client, each with its copy button. */
export function pullCommandsSection(repository: string, tag: string | undefined, digest: string): HTMLElement {
  const base = `${location.host}/${repository}`;
  const localName = repository.split('/').pop() ?? repository;
  const targets = [
    ...(tag === undefined ? [] : [{ by: 'tag', title: `By tag ${tag}`, reference: `${base}:${tag}`, local: `${localName}-${tag}` }]),
    { by: 'digest', title: 'By digest', reference: `${base}@${digest}`, local: `${localName}-${digest.slice(7, 19)}` },
  ];
  return h(
    'section',
    { 'aria-labelledby': 'pull-title', id: 'pull' },
    h('h2', { id: 'pull-title' }, 'Pull'),
    targets.map((target) => [
      h('h3', null, target.title),
      h(
        'ul',
        { class: 'pull', 'aria-label': `Pull commands ${target.title.toLowerCase()}` },
        pullCommands(target.reference, target.local).map(({ tool, command }) =>
          h(
            'li',
            { 'data-tool': tool, 'data-by': target.by },
            h('span', { class: 'tool' }, tool),
            // Scrolls sideways on its own when longer than the line (focusable so the keyboard can scroll it).
            h('code', { class: 'command', tabindex: 0, 'aria-label': `${tool} command` }, command),
            copyButton(command, `${tool} command ${target.by === 'tag' ? `by tag ${tag}` : 'by digest'}`),
          ),
        ),
      ),
    ]),
  );
}

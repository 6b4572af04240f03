// Smoke test of the real-client harness: docker (a private dockerd), podman and ctr (a private
// containerd) push and pull a tiny offline image against berth without auth and against the
// reference registry with htpasswd auth; the reference in token mode accepts a token from our
// signer. One dockerd and one containerd serve the whole file.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEveryStep, writeClientImage, type ClientImage } from '../support/client-image.js';
import { startContainerd, type Containerd } from '../support/containerd.js';
import { startDockerEngine, type DockerEngine } from '../support/docker-engine.js';
import { createPodman, type Podman } from '../support/podman.js';
import {
  createTokenSigner,
  startReferenceRegistryWithAuth,
  startReferenceRegistryWithHtpasswd,
} from '../support/reference-auth.js';
import { createScratch, type Scratch } from '../support/scratch.js';
import { startBerth, type RunningRegistry } from '../support/servers.js';
import { skopeoLogin } from '../support/skopeo.js';

const USER = { username: 'alice', password: 'correct horse' };

let engine: DockerEngine;
let containerd: Containerd;
let podman: Podman;
let scratch: Scratch;
let image: ClientImage;
/** What each client named the image after loading it. */
let dockerImage: string;
let podmanImage: string;
let ctrImage: string;

beforeAll(async () => {
  scratch = await createScratch('berth-clients-');
  image = await writeClientImage({ path: scratch.child('tiny.tar'), seed: 5 });
  [engine, containerd, podman] = await Promise.all([startDockerEngine(), startContainerd(), createPodman()]);
  [dockerImage, podmanImage, [ctrImage]] = await Promise.all([
    engine.load(image.path),
    podman.load(image.path),
    containerd.importArchive(image.path) as Promise<[string]>,
  ]);
});

afterAll(async () => {
  // Stop everything, then report the first failure (a daemon that would not stop must fail the file).
  await runEveryStep([() => engine?.stop(), () => containerd?.stop(), () => podman?.dispose(), () => scratch?.dispose()]);
});

/** The image ID docker or podman reports: the config digest, which no client rewrites. */
async function dockerImageId(ref: string): Promise<string> {
  return (await engine.dockerOk(['image', 'inspect', '--format', '{{.Id}}', ref])).stdout.trim();
}

async function manifestConfigDigest(registry: RunningRegistry, repository: string, tag: string, authorization?: string): Promise<string> {
  const response = await fetch(`${registry.url}/v2/${repository}/manifests/${tag}`, {
    headers: {
      accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json',
      ...(authorization === undefined ? {} : { authorization }),
    },
  });
  expect(response.status, await response.clone().text()).toBe(200);
  return ((await response.json()) as { config: { digest: string } }).config.digest;
}

const basic = (user: { username: string; password: string }) =>
  `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`;

describe('loads the offline image into every client', () => {
  it('names it as the archive says', () => {
    expect(dockerImage).toBe(image.repoTag);
    expect(podmanImage).toBe(image.repoTag);
    expect(ctrImage).toBe(image.repoTag);
  });
});

describe('real clients against berth without auth', () => {
  let berth: RunningRegistry;

  beforeAll(async () => {
    berth = await startBerth();
  });

  afterAll(async () => {
    await berth?.stop();
  });

  it('docker pushes, forgets and pulls back the image', async () => {
    const ref = `${berth.host}/team/app:1`;
    await engine.dockerOk(['tag', dockerImage, ref]);
    await engine.dockerOk(['push', ref]);
    await engine.dockerOk(['rmi', ref]);
    await engine.dockerOk(['pull', ref]);
    expect(await dockerImageId(ref)).toBe(image.configDigest);
    expect(await manifestConfigDigest(berth, 'team/app', '1')).toBe(image.configDigest);
  });

  it('podman pushes and pulls', async () => {
    const ref = `${berth.host}/team/podman:1`;
    await podman.podmanOk(['tag', podmanImage, ref]);
    const pushed = await podman.push(ref);
    expect(pushed.code, pushed.stderr).toBe(0);
    await podman.podmanOk(['rmi', ref]);
    const pulled = await podman.pull(ref);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect((await podman.podmanOk(['image', 'inspect', '--format', '{{.Id}}', ref])).stdout.trim()).toBe(
      image.configDigest.slice('sha256:'.length),
    );
  });

  it('ctr pulls what docker pushed and pushes it under a new name', async () => {
    const pulled = await containerd.pull(`${berth.host}/team/app:1`);
    expect(pulled.code, pulled.stderr).toBe(0);
    await containerd.ctrOk(['images', 'tag', `${berth.host}/team/app:1`, `${berth.host}/team/ctr:1`]);
    const pushed = await containerd.push(`${berth.host}/team/ctr:1`);
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(await manifestConfigDigest(berth, 'team/ctr', '1')).toBe(image.configDigest);
  });
});

describe('real clients against the reference registry with htpasswd', () => {
  let reference: RunningRegistry;

  beforeAll(async () => {
    reference = await startReferenceRegistryWithHtpasswd([USER]);
  });

  afterAll(async () => {
    await reference?.stop();
  });

  it('docker refuses a wrong password, logs in, pushes, forgets and pulls back', async () => {
    const configDir = await engine.newConfigDir();
    const ref = `${reference.host}/team/app:1`;
    await engine.dockerOk(['tag', dockerImage, ref]);

    const refused = await engine.login(reference.host, USER.username, 'wrong password', { configDir });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/401|unauthorized/i);
    // Without credentials the push is refused too.
    expect((await engine.docker(['push', ref], { configDir })).code).not.toBe(0);

    const login = await engine.login(reference.host, USER.username, USER.password, { configDir });
    expect(login.code, login.stderr).toBe(0);
    expect(login.command).not.toContain(USER.password);
    await engine.dockerOk(['push', ref], { configDir });
    await engine.dockerOk(['rmi', ref]);
    await engine.dockerOk(['pull', ref], { configDir });
    expect(await dockerImageId(ref)).toBe(image.configDigest);
    expect(await manifestConfigDigest(reference, 'team/app', '1', basic(USER))).toBe(image.configDigest);
  });

  it('podman refuses a wrong password, logs in, pushes and pulls', async () => {
    const authFile = await podman.newAuthFile();
    const ref = `${reference.host}/team/podman:1`;
    await podman.podmanOk(['tag', podmanImage, ref]);
    const refused = await podman.login(reference.host, USER.username, 'wrong password', { authFile });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/invalid username\/password|unauthorized/i);

    const login = await podman.login(reference.host, USER.username, USER.password, { authFile });
    expect(login.code, login.stderr).toBe(0);
    const pushed = await podman.push(ref, { authFile });
    expect(pushed.code, pushed.stderr).toBe(0);
    await podman.podmanOk(['rmi', ref]);
    const pulled = await podman.pull(ref, { authFile });
    expect(pulled.code, pulled.stderr).toBe(0);
  });

  it('ctr pulls and pushes with -u user:password, and is refused without', async () => {
    const source = `${reference.host}/team/app:1`;
    const refused = await containerd.pull(source);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/401 Unauthorized/);

    const pulled = await containerd.pull(source, { credentials: USER });
    expect(pulled.code, pulled.stderr).toBe(0);
    await containerd.ctrOk(['images', 'tag', source, `${reference.host}/team/ctr:1`]);
    const pushed = await containerd.push(`${reference.host}/team/ctr:1`, { credentials: USER });
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.command).not.toContain(USER.password);
    expect(await manifestConfigDigest(reference, 'team/ctr', '1', basic(USER))).toBe(image.configDigest);
  });

  it('skopeo login accepts the right password and refuses a wrong one', async () => {
    const authFile = scratch.child('skopeo-auth.json');
    expect((await skopeoLogin({ host: reference.host, username: USER.username, password: 'nope', authFile })).code).not.toBe(0);
    const login = await skopeoLogin({ host: reference.host, ...USER, authFile });
    expect(login.code, login.stderr).toBe(0);
  });
});

describe('the reference registry with token auth', () => {
  it('challenges for a Bearer token and accepts one from the test signer', async () => {
    const signer = await createTokenSigner(scratch.child('token'));
    const realm = 'http://127.0.0.1:1/token';
    const reference = await startReferenceRegistryWithAuth({
      token: { realm, service: signer.service, issuer: signer.issuer, rootCertBundle: signer.certPath },
    });
    try {
      const challenge = await fetch(`${reference.url}/v2/`);
      expect(challenge.status).toBe(401);
      expect(challenge.headers.get('www-authenticate')).toBe(`Bearer realm="${realm}",service="${signer.service}"`);

      const token = signer.sign({ subject: USER.username, access: [{ type: 'registry', name: 'catalog', actions: ['*'] }] });
      const catalog = await fetch(`${reference.url}/v2/_catalog`, { headers: { authorization: `Bearer ${token}` } });
      expect(catalog.status, reference.logs()).toBe(200);

      const wrongAudience = signer.sign({ subject: USER.username, audience: 'elsewhere', access: [] });
      expect((await fetch(`${reference.url}/v2/`, { headers: { authorization: `Bearer ${wrongAudience}` } })).status).toBe(401);
    } finally {
      await reference.stop();
    }
  });
});

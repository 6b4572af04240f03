import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { binary, expectError, pushBlob, sha256 } from './support/content.js';
import { metadataFactories, openRegistry, type RegistryUnderTest } from './support/registry-under-test.js';

describe.each(Object.entries(metadataFactories))('blobs on %s', (_name, factory) => {
  let t: RegistryUnderTest;
  beforeEach(async () => {
    t = await openRegistry(factory);
  });
  afterEach(async () => t.close());

  it('answers the version check with the API version header', async () => {
    const response = await t.http.get('/v2/').expect(200);
    expect(response.headers['docker-distribution-api-version']).toBe('registry/2.0');
    expect(response.body).toEqual({});
  });

  it('answers unknown /v2 paths with a JSON error', async () => {
    expectError(await t.http.get('/v2/library/app/nothing-here'), 404, 'UNSUPPORTED');
  });

  it('pushes a blob in one request and serves it with GET, HEAD and ranges', async () => {
    const bytes = randomBytes(1000);
    const digest = sha256(bytes);
    const pushed = await t.http.post(`/v2/library/app/blobs/uploads/?digest=${digest}`).send(bytes).expect(201);
    expect(pushed.headers['location']).toBe(`/v2/library/app/blobs/${digest}`);
    expect(pushed.headers['docker-content-digest']).toBe(digest);

    const got = await t.http.get(`/v2/library/app/blobs/${digest}`).buffer(true).parse(binary).expect(200);
    expect(Buffer.compare(got.body as Buffer, bytes)).toBe(0);
    expect(got.headers['docker-content-digest']).toBe(digest);
    expect(got.headers['content-length']).toBe('1000');

    const head = await t.http.head(`/v2/library/app/blobs/${digest}`).expect(200);
    expect(head.headers['content-length']).toBe('1000');
    expect(head.headers['docker-content-digest']).toBe(digest);

    const partial = await t.http
      .get(`/v2/library/app/blobs/${digest}`)
      .set('Range', 'bytes=10-19')
      .buffer(true)
      .parse(binary)
      .expect(206);
    expect(partial.headers['content-range']).toBe('bytes 10-19/1000');
    expect(Buffer.compare(partial.body as Buffer, bytes.subarray(10, 20))).toBe(0);

    const suffix = await t.http
      .get(`/v2/library/app/blobs/${digest}`)
      .set('Range', 'bytes=-5')
      .buffer(true)
      .parse(binary)
      .expect(206);
    expect(Buffer.compare(suffix.body as Buffer, bytes.subarray(995))).toBe(0);

    const open = await t.http
      .get(`/v2/library/app/blobs/${digest}`)
      .set('Range', 'bytes=990-')
      .buffer(true)
      .parse(binary)
      .expect(206);
    expect(open.headers['content-range']).toBe('bytes 990-999/1000');
  });

  it('answers an unsatisfiable range with 416 and the size', async () => {
    const digest = await pushBlob(t.http, 'app', randomBytes(10));
    const response = await t.http.get(`/v2/app/blobs/${digest}`).set('Range', 'bytes=10-20');
    expectError(response, 416, 'SIZE_INVALID');
    expect(response.headers['content-range']).toBe('bytes */10');
  });

  it('rejects a monolithic push whose bytes do not match the digest and stores nothing', async () => {
    const bytes = randomBytes(100);
    const claimed = sha256(Buffer.from('something else'));
    expectError(await t.http.post(`/v2/app/blobs/uploads/?digest=${claimed}`).send(bytes), 400, 'DIGEST_INVALID');
    expect(await t.blobs.stat(claimed)).toBeUndefined();
    expect(await t.blobs.stat(sha256(bytes))).toBeUndefined();
    expectError(await t.http.head(`/v2/app/blobs/${claimed}`), 404, 'BLOB_UNKNOWN');
  });

  it('keeps blobs per repository', async () => {
    const digest = await pushBlob(t.http, 'one', randomBytes(10));
    expectError(await t.http.get(`/v2/two/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
  });

  it('deletes a blob from a repository', async () => {
    const digest = await pushBlob(t.http, 'app', randomBytes(10));
    await t.http.delete(`/v2/app/blobs/${digest}`).expect(202);
    expectError(await t.http.get(`/v2/app/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
    expectError(await t.http.delete(`/v2/app/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
  });

  it.each([
    ['sha256:abc', 'DIGEST_INVALID'],
    ['sha256:' + 'A'.repeat(64), 'DIGEST_INVALID'],
    ['md5:' + 'a'.repeat(32), 'DIGEST_INVALID'],
    ['notadigest', 'DIGEST_INVALID'],
  ])('answers the malformed digest %s with 400', async (digest, code) => {
    expectError(await t.http.get(`/v2/app/blobs/${digest}`), 400, code);
    expectError(await t.http.delete(`/v2/app/blobs/${digest}`), 400, code);
    expectError(await t.http.post(`/v2/app/blobs/uploads/?digest=${digest}`).send('x'), 400, code);
  });

  it.each(['UPPER/case', 'trailing-', 'a//b', '-lead', 'a' + '/b'.repeat(200)])(
    'answers the malformed name %s with NAME_INVALID',
    async (name) => {
      const digest = sha256('x');
      expectError(await t.http.get(`/v2/${name}/blobs/${digest}`), 400, 'NAME_INVALID');
      expectError(await t.http.post(`/v2/${name}/blobs/uploads/`), 400, 'NAME_INVALID');
      expectError(await t.http.get(`/v2/${name}/manifests/latest`), 400, 'NAME_INVALID');
      expectError(await t.http.get(`/v2/${name}/tags/list`), 400, 'NAME_INVALID');
    },
  );
});

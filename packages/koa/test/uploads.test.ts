import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { binary, expectError, pushBlob, sha256 } from './support/content.js';
import { metadataFactories, openRegistry, type RegistryUnderTest } from './support/registry-under-test.js';

describe.each(Object.entries(metadataFactories))('uploads on %s', (_name, factory) => {
  let t: RegistryUnderTest;
  beforeEach(async () => {
    t = await openRegistry(factory);
  });
  afterEach(async () => t.close());

  async function startUpload(repository = 'app'): Promise<string> {
    const response = await t.http.post(`/v2/${repository}/blobs/uploads/`).expect(202);
    expect(response.headers['range']).toBe('0-0');
    expect(response.headers['docker-upload-uuid']).toBeTruthy();
    return response.headers['location'] as string;
  }

  async function getBlob(repository: string, digest: string): Promise<Buffer> {
    const response = await t.http.get(`/v2/${repository}/blobs/${digest}`).buffer(true).parse(binary).expect(200);
    return response.body as Buffer;
  }

  it('uploads in ordered chunks with Content-Range and reports progress', async () => {
    const bytes = randomBytes(3000);
    const location = await startUpload();
    const first = await t.http
      .patch(location)
      .set('Content-Type', 'application/octet-stream')
      .set('Content-Range', '0-999')
      .send(bytes.subarray(0, 1000))
      .expect(202);
    expect(first.headers['range']).toBe('0-999');
    const next = first.headers['location'] as string;
    const status = await t.http.get(next).expect(204);
    expect(status.headers['range']).toBe('0-999');
    await t.http
      .patch(next)
      .set('Content-Type', 'application/octet-stream')
      .set('Content-Range', '1000-2999')
      .send(bytes.subarray(1000))
      .expect(202);
    const done = await t.http.put(`${next}?digest=${sha256(bytes)}`).expect(201);
    expect(done.headers['location']).toBe(`/v2/app/blobs/${sha256(bytes)}`);
    expect(Buffer.compare(await getBlob('app', sha256(bytes)), bytes)).toBe(0);
    expectError(await t.http.get(next), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  it('answers a chunk that does not start at the current offset with 416 and the current Range', async () => {
    const location = await startUpload();
    await t.http.patch(location).set('Content-Range', '0-9').send(randomBytes(10)).expect(202);
    const replay = await t.http.patch(location).set('Content-Range', '0-9').send(randomBytes(10));
    expectError(replay, 416, 'BLOB_UPLOAD_INVALID');
    expect(replay.headers['range']).toBe('0-9');
    expect(replay.headers['location']).toBe(location);
    const gap = await t.http.patch(location).set('Content-Range', '20-29').send(randomBytes(10));
    expectError(gap, 416, 'BLOB_UPLOAD_INVALID');
    expect(gap.headers['range']).toBe('0-9');
    expect((await t.http.get(location).expect(204)).headers['range']).toBe('0-9');
  });

  it('answers a malformed Content-Range with 416', async () => {
    const location = await startUpload();
    expectError(await t.http.patch(location).set('Content-Range', 'bytes=oops').send('abc'), 416, 'BLOB_UPLOAD_INVALID');
    expectError(await t.http.patch(location).set('Content-Range', '0-9').send('abc'), 416, 'BLOB_UPLOAD_INVALID');
  });

  it('streams PATCH bodies without Content-Range and completes with a last chunk in the PUT', async () => {
    const bytes = randomBytes(5000);
    const location = await startUpload();
    await t.http.patch(location).send(bytes.subarray(0, 2500)).expect(202);
    await t.http.patch(location).send(bytes.subarray(2500, 4000)).expect(202);
    await t.http
      .put(`${location}?digest=${sha256(bytes)}`)
      .set('Content-Type', 'application/octet-stream')
      .send(bytes.subarray(4000))
      .expect(201);
    expect(Buffer.compare(await getBlob('app', sha256(bytes)), bytes)).toBe(0);
  });

  it('completes a whole upload in the PUT', async () => {
    const bytes = randomBytes(100);
    const location = await startUpload();
    await t.http.put(`${location}?digest=${sha256(bytes)}`).send(bytes).expect(201);
    expect(Buffer.compare(await getBlob('app', sha256(bytes)), bytes)).toBe(0);
  });

  it('rejects a wrong digest at PUT, discards the upload and stores nothing', async () => {
    const bytes = randomBytes(100);
    const wrong = sha256(Buffer.from('other'));
    const location = await startUpload();
    await t.http.patch(location).send(bytes).expect(202);
    expectError(await t.http.put(`${location}?digest=${wrong}`), 400, 'DIGEST_INVALID');
    expect(await t.blobs.stat(wrong)).toBeUndefined();
    expect(await t.blobs.stat(sha256(bytes))).toBeUndefined();
    expectError(await t.http.get(location), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  it('requires a digest to complete an upload', async () => {
    const location = await startUpload();
    expectError(await t.http.put(location), 400, 'DIGEST_INVALID');
    expectError(await t.http.put(`${location}?digest=sha256:zz`), 400, 'DIGEST_INVALID');
  });

  it('cancels an upload', async () => {
    const location = await startUpload();
    await t.http.delete(location).expect(204);
    expectError(await t.http.get(location), 404, 'BLOB_UPLOAD_UNKNOWN');
    expectError(await t.http.delete(location), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  it('purges uploads begun before a time and keeps the newer ones', async () => {
    const stale = await startUpload();
    await t.http.patch(stale).send(randomBytes(10)).expect(202);
    const cutoff = new Date(Date.now() + 1);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const fresh = await startUpload();
    expect(await t.registry.service.uploads.purgeStarted(cutoff)).toBe(1);
    expectError(await t.http.get(stale), 404, 'BLOB_UPLOAD_UNKNOWN');
    expect(await t.blobs.uploadState(stale.split('/').pop()!)).toBeUndefined();
    await t.http.get(fresh).expect(204);
    expect(await t.registry.service.uploads.purgeStarted(cutoff)).toBe(0);
  });

  it('does not let another repository use an upload session', async () => {
    const location = await startUpload('one');
    const foreign = location.replace('/v2/one/', '/v2/two/');
    expectError(await t.http.get(foreign), 404, 'BLOB_UPLOAD_UNKNOWN');
    expectError(await t.http.patch(foreign).send('abc'), 404, 'BLOB_UPLOAD_UNKNOWN');
    expectError(await t.http.put(`${foreign}?digest=${sha256('abc')}`), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  it('answers unknown upload ids with BLOB_UPLOAD_UNKNOWN', async () => {
    for (const id of ['00000000-0000-4000-8000-000000000000', 'not-an-id']) {
      expectError(await t.http.get(`/v2/app/blobs/uploads/${id}`), 404, 'BLOB_UPLOAD_UNKNOWN');
      expectError(await t.http.patch(`/v2/app/blobs/uploads/${id}`).send('x'), 404, 'BLOB_UPLOAD_UNKNOWN');
    }
  });

  it('mounts a blob from another repository', async () => {
    const digest = await pushBlob(t.http, 'source', randomBytes(10));
    const response = await t.http.post(`/v2/target/blobs/uploads/?mount=${digest}&from=source`).expect(201);
    expect(response.headers['location']).toBe(`/v2/target/blobs/${digest}`);
    await t.http.head(`/v2/target/blobs/${digest}`).expect(200);
  });

  it('starts an upload instead when the source repository does not have the blob', async () => {
    const digest = await pushBlob(t.http, 'source', randomBytes(10));
    const response = await t.http.post(`/v2/target/blobs/uploads/?mount=${digest}&from=elsewhere`).expect(202);
    expect(response.headers['location']).toMatch(/^\/v2\/target\/blobs\/uploads\//);
    expectError(await t.http.head(`/v2/target/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
  });

  it('mounts automatically without from when the registry holds the blob', async () => {
    const digest = await pushBlob(t.http, 'source', randomBytes(10));
    await t.http.post(`/v2/target/blobs/uploads/?mount=${digest}`).expect(201);
    await t.http.head(`/v2/target/blobs/${digest}`).expect(200);
    const unknown = sha256('never pushed');
    await t.http.post(`/v2/target/blobs/uploads/?mount=${unknown}`).expect(202);
  });

  it('does not mount automatically when that is switched off', async () => {
    const off = await openRegistry(factory, { automaticMount: false });
    try {
      const digest = await pushBlob(off.http, 'source', randomBytes(10));
      await off.http.post(`/v2/target/blobs/uploads/?mount=${digest}`).expect(202);
      await off.http.post(`/v2/target/blobs/uploads/?mount=${digest}&from=source`).expect(201);
    } finally {
      await off.close();
    }
  });

  it('answers a mount with a malformed digest with DIGEST_INVALID', async () => {
    expectError(await t.http.post('/v2/target/blobs/uploads/?mount=sha256:nope&from=source'), 400, 'DIGEST_INVALID');
  });
});

import { randomBytes } from 'node:crypto';
import type request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OCI_MANIFEST, binary, pushImage, sha256 } from './support/content.js';
import { metadataFactories, openRegistry, type RegistryUnderTest } from './support/registry-under-test.js';

/** 201 and 202 answers carry headers only, as distribution's do: no body, no Content-Type. */
function expectNoBody(response: request.Response): void {
  expect(response.headers['content-length']).toBe('0');
  expect(response.headers['content-type']).toBeUndefined();
  expect((response.body as Buffer).byteLength).toBe(0);
}

/** A 204 has no body by definition, and RFC 9110 (8.6) forbids a Content-Length on it. */
function expectNoContent(response: request.Response): void {
  expect(response.status).toBe(204);
  expect(response.headers['content-length']).toBeUndefined();
  expect(response.headers['content-type']).toBeUndefined();
  expect((response.body as Buffer).byteLength).toBe(0);
}

describe('answers without a body', () => {
  let t: RegistryUnderTest;
  beforeEach(async () => {
    t = await openRegistry(metadataFactories['sqlite']!);
  });
  afterEach(async () => t.close());

  it('for every 201, 202 and 204 of uploads, manifests and deletes', async () => {
    const raw = <T extends request.Test>(test: T) => test.buffer(true).parse(binary);
    const bytes = randomBytes(100);
    const digest = sha256(bytes);

    const started = await raw(t.http.post('/v2/team/app/blobs/uploads/')).expect(202);
    expectNoBody(started);
    const location = started.headers['location'] as string;
    const patched = await raw(t.http.patch(location).set('Content-Type', 'application/octet-stream').send(bytes.subarray(0, 50))).expect(202);
    expectNoBody(patched);
    const status = await raw(t.http.get(location));
    expectNoContent(status);
    expect(status.headers['range']).toBe('0-49');
    const finished = await raw(t.http.put(`${location}?digest=${digest}`).set('Content-Type', 'application/octet-stream').send(bytes.subarray(50))).expect(201);
    expectNoBody(finished);

    const other = randomBytes(10);
    expectNoBody(await raw(t.http.post(`/v2/team/app/blobs/uploads/?digest=${sha256(other)}`).set('Content-Type', 'application/octet-stream').send(other)).expect(201));
    expectNoBody(await raw(t.http.post(`/v2/team/copy/blobs/uploads/?mount=${digest}&from=team/app`)).expect(201));

    const image = await pushImage(t.http, 'team/app', 'v1');
    expectNoBody(await raw(t.http.put('/v2/team/app/manifests/v2').set('Content-Type', OCI_MANIFEST).send(image.body)).expect(201));
    expectNoBody(await raw(t.http.delete('/v2/team/app/manifests/v2')).expect(202));
    expectNoBody(await raw(t.http.delete(`/v2/team/app/manifests/${image.digest}`)).expect(202));
    expectNoBody(await raw(t.http.delete(`/v2/team/app/blobs/${digest}`)).expect(202));

    const cancelled = (await raw(t.http.post('/v2/team/app/blobs/uploads/')).expect(202)).headers['location'] as string;
    expectNoContent(await raw(t.http.delete(cancelled)));
  });
});

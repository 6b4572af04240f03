import { describe, expect, it } from 'vitest';
import { parseAuthChallenge } from '../src/internal.js';

describe('WWW-Authenticate challenges of an upstream', () => {
  it("reads Docker Hub's Bearer challenge", () => {
    expect(parseAuthChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"')).toEqual({
      scheme: 'bearer',
      realm: 'https://auth.docker.io/token',
      service: 'registry.docker.io',
      scope: 'repository:library/alpine:pull',
    });
  });

  it('reads escapes, commas inside quotes, spaces and case as RFC 9110 allows', () => {
    expect(parseAuthChallenge('bearer  realm = "https://a.example/t?x=1,2" , service="s\\"q", scope="repository:a:pull,push"')).toEqual({
      scheme: 'bearer',
      realm: 'https://a.example/t?x=1,2',
      service: 's"q',
      scope: 'repository:a:pull,push',
    });
    expect(parseAuthChallenge('Bearer realm=https://a.example/token,service=reg')).toEqual({ scheme: 'bearer', realm: 'https://a.example/token', service: 'reg' });
  });

  it('reads Basic, picks the first challenge it knows among several, and ignores the rest', () => {
    expect(parseAuthChallenge('Basic realm="Registry Realm"')).toEqual({ scheme: 'basic', realm: 'Registry Realm' });
    expect(parseAuthChallenge('Negotiate abc==, Basic realm="r", Bearer realm="https://t"')).toEqual({ scheme: 'basic', realm: 'r' });
    expect(parseAuthChallenge('Bearer service="no-realm", Basic realm="r"')).toEqual({ scheme: 'basic', realm: 'r' });
    expect(parseAuthChallenge('')).toBeUndefined();
    expect(parseAuthChallenge('Digest realm="x", nonce="y"')).toBeUndefined();
    expect(parseAuthChallenge('=== ,,, "')).toBeUndefined();
  });
});

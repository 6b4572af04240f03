import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AuthConfigError } from '../src/config-error.js';
import { openHtpasswd } from '../src/htpasswd.js';

/** A line as the real tool writes it (`$2y$`, what distribution's docs tell people to run). */
function htpasswdLine(user: string, password: string, ...flags: string[]): string {
  return execFileSync('htpasswd', [...(flags.length > 0 ? flags : ['-B']), '-bn', user, password], { encoding: 'utf8' }).trim();
}
const bcryptLine = (user: string, password: string, prefix: '$2a$' | '$2b$') =>
  `${user}:${bcrypt.hashSync(password, bcrypt.genSaltSync(4).replace('$2b$', prefix))}`;

let dir: string;
let file: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-htpasswd-'));
  file = join(dir, 'users.htpasswd');
});
afterEach(async () => {
  vi.restoreAllMocks();
  await rm(dir, { recursive: true, force: true });
});

const write = (...lines: string[]) => writeFile(file, lines.map((line) => `${line}\n`).join(''));

describe('openHtpasswd', () => {
  it('checks htpasswd -B ($2y$) and bcryptjs ($2a$, $2b$) hashes', async () => {
    await write(htpasswdLine('alice', 's3cret'), bcryptLine('bob', 'b0b', '$2a$'), bcryptLine('carol', 'c4rol', '$2b$'));
    expect(await readFile(file, 'utf8')).toMatch(/^alice:\$2y\$/);
    const users = await openHtpasswd(file);
    expect(await users.verify('alice', 's3cret')).toBe(true);
    expect(await users.verify('bob', 'b0b')).toBe(true);
    expect(await users.verify('carol', 'c4rol')).toBe(true);
    expect(await users.verify('alice', 's3cret ')).toBe(false);
    expect(await users.verify('alice', 'b0b')).toBe(false);
    expect(await users.verify('Alice', 's3cret')).toBe(false);
    expect(await users.has('alice')).toBe(true);
    expect(await users.has('dave')).toBe(false);
  });

  it('skips comments and blank lines and reads CRLF files', async () => {
    await writeFile(file, `# users\r\n\r\n  \r\n${htpasswdLine('alice', 's3cret')}\r\n#bob:x\r\n`);
    const users = await openHtpasswd(file);
    expect(await users.verify('alice', 's3cret')).toBe(true);
    expect(await users.has('#bob')).toBe(false);
  });

  it('compares an unknown user against a dummy hash of the highest cost in the file, and refuses', async () => {
    await write(htpasswdLine('alice', 's3cret', '-B', '-C', '4'), htpasswdLine('bob', 'b0b', '-B', '-C', '6'));
    const users = await openHtpasswd(file);
    const compare = vi.spyOn(bcrypt, 'compare');
    expect(await users.verify('nobody', 's3cret')).toBe(false);
    expect(await users.verify('nobody', 'b0b')).toBe(false);
    expect(compare).toHaveBeenCalledTimes(2);
    const dummy = compare.mock.calls[0]![1] as string;
    expect(bcrypt.getRounds(dummy)).toBe(6);
    expect(compare.mock.calls[1]![1]).toBe(dummy); // generated once
  });

  it('gives a credential version that is not the hash and changes with the entry', async () => {
    const alice = htpasswdLine('alice', 's3cret');
    await write(alice, htpasswdLine('bob', 'b0b'));
    const users = await openHtpasswd(file, { recheckIntervalMs: 0 });
    const version = await users.credentialVersion('alice');
    expect(version).toMatch(/^[\w-]{8,}$/);
    expect(alice).not.toContain(version);
    expect(await users.credentialVersion('alice')).toBe(version);
    expect(await users.credentialVersion('bob')).not.toBe(version);
    expect(await users.credentialVersion('nobody')).toBeUndefined();

    await write(htpasswdLine('alice', 's3cret'), htpasswdLine('bob', 'b0b')); // same password, new salt
    expect(await users.credentialVersion('alice')).not.toBe(version);
  });

  it('remembers successes only, for cacheTtlMs', async () => {
    await write(htpasswdLine('alice', 's3cret'));
    const users = await openHtpasswd(file);
    const compare = vi.spyOn(bcrypt, 'compare');
    expect(await users.verify('alice', 's3cret')).toBe(true);
    expect(await users.verify('alice', 's3cret')).toBe(true);
    expect(compare).toHaveBeenCalledTimes(1);
    expect(await users.verify('alice', 'wrong')).toBe(false);
    expect(await users.verify('alice', 'wrong')).toBe(false);
    expect(compare).toHaveBeenCalledTimes(3);

    const uncached = await openHtpasswd(file, { cacheTtlMs: 0 });
    expect(await uncached.verify('alice', 's3cret')).toBe(true);
    expect(await uncached.verify('alice', 's3cret')).toBe(true);
    expect(compare).toHaveBeenCalledTimes(5);
  });
});

describe('openHtpasswd reloads', () => {
  it('picks up added, removed and changed users without reopening, and forgets cached successes', async () => {
    await write(htpasswdLine('alice', 'old-password'), htpasswdLine('bob', 'b0b'));
    const users = await openHtpasswd(file, { recheckIntervalMs: 0 });
    expect(await users.verify('alice', 'old-password')).toBe(true); // now cached
    expect(await users.verify('bob', 'b0b')).toBe(true);
    const version = await users.credentialVersion('alice');

    await write(htpasswdLine('alice', 'new-password'), htpasswdLine('carol', 'c4rol'));
    expect(await users.verify('alice', 'old-password')).toBe(false);
    expect(await users.verify('alice', 'new-password')).toBe(true);
    expect(await users.verify('carol', 'c4rol')).toBe(true);
    expect(await users.verify('bob', 'b0b')).toBe(false);
    expect(await users.has('bob')).toBe(false);
    expect(await users.credentialVersion('bob')).toBeUndefined();
    expect(await users.credentialVersion('alice')).not.toBe(version);
  });

  it('notices a change by stat once the timestamps are old enough to trust', async () => {
    const anHourAgo = new Date(Date.now() - 3_600_000);
    await write(htpasswdLine('alice', 's3cret'));
    await utimes(file, anHourAgo, anHourAgo);
    const users = await openHtpasswd(file, { recheckIntervalMs: 0 });
    expect(await users.verify('alice', 's3cret')).toBe(true);
    await write(htpasswdLine('bob', 'b0b'));
    await utimes(file, new Date(anHourAgo.getTime() + 1000), anHourAgo);
    expect(await users.verify('bob', 'b0b')).toBe(true);
    expect(await users.verify('alice', 's3cret')).toBe(false);
  });

  it('does not look at the file again within recheckIntervalMs', async () => {
    await write(htpasswdLine('alice', 's3cret'));
    const users = await openHtpasswd(file, { recheckIntervalMs: 3_600_000 });
    await write(htpasswdLine('bob', 'b0b'));
    expect(await users.verify('bob', 'b0b')).toBe(false);
    expect(await users.verify('alice', 's3cret')).toBe(true);
  });

  it('keeps the previous users when the file turns invalid or goes, and reports each failure once', async () => {
    await write(htpasswdLine('alice', 's3cret'));
    const errors: Error[] = [];
    const users = await openHtpasswd(file, { recheckIntervalMs: 0, onReloadError: (error) => errors.push(error) });

    await write(htpasswdLine('bob', 'b0b'), htpasswdLine('carol', 'c4rol', '-m'));
    expect(await users.verify('alice', 's3cret')).toBe(true);
    expect(await users.verify('bob', 'b0b')).toBe(false);
    expect(await users.has('alice')).toBe(true);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(AuthConfigError);
    expect(errors[0]!.message).toContain('users.htpasswd line 2');

    await rm(file);
    expect(await users.verify('alice', 's3cret')).toBe(true);
    expect(await users.verify('alice', 's3cret')).toBe(true);
    expect(errors).toHaveLength(2);
    expect(errors[1]!.message).toContain('ENOENT');

    await write(htpasswdLine('bob', 'b0b'));
    expect(await users.verify('bob', 'b0b')).toBe(true);
    expect(await users.verify('alice', 's3cret')).toBe(false);
    expect(errors).toHaveLength(2);
  });
});

describe('openHtpasswd configuration errors', () => {
  const problems: [string, () => string, RegExp][] = [
    ['an MD5 hash', () => htpasswdLine('bob', 'pa55word', '-m'), /line 2: "bob" uses an unsupported hash \(\$apr1\$, MD5\); use bcrypt \(htpasswd -B\)/],
    ['a SHA-1 hash', () => htpasswdLine('bob', 'pa55word', '-s'), /line 2: "bob" uses an unsupported hash \(\{SHA\}, SHA-1\)/],
    ['a crypt hash', () => htpasswdLine('bob', 'pa55word', '-d'), /line 2: "bob" uses an unsupported hash \(crypt, DES\)/],
    ['a plain-text password', () => 'bob:pa55word', /line 2: "bob" uses an unsupported hash \(plain text or unknown\)/],
    ['a SHA-512-crypt hash', () => 'bob:$6$salt$abcdefghijklmnop', /line 2: "bob" uses an unsupported hash \(\$6\$, SHA-512-crypt\)/],
    ['a truncated bcrypt hash', () => htpasswdLine('bob', 'pa55word').slice(0, -5), /line 2: "bob" has a malformed bcrypt hash/],
    ['a line without a colon', () => 'bob', /line 2: expected "name:hash"/],
    ['the reserved name anonymous', () => htpasswdLine('anonymous', 'pa55word'), /line 2: "anonymous" is a reserved name/],
    ['the reserved name *', () => htpasswdLine('*', 'pa55word'), /line 2: "\*" is a reserved name/],
    ['a duplicate user', () => htpasswdLine('alice', 'pa55word'), /line 2: "alice" is already defined on line 1/],
  ];
  it.each(problems)('refuses %s, naming the file and line but not the hash', async (_what, line, message) => {
    const bad = line();
    await write(htpasswdLine('alice', 's3cret'), bad);
    const error = await openHtpasswd(file).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(AuthConfigError);
    expect((error as Error).name).toBe('AuthConfigError');
    expect((error as Error).message).toContain(`${file} line 2`);
    expect((error as Error).message).toMatch(message);
    const hash = bad.slice(bad.indexOf(':') + 1);
    if (hash !== '') expect((error as Error).message).not.toContain(hash.slice(-12));
    expect((error as Error).message).not.toContain('pa55word');
  });

  it('refuses a missing file', async () => {
    await expect(openHtpasswd(file)).rejects.toThrow(new AuthConfigError(`${file}: cannot read the file (ENOENT)`));
  });
});

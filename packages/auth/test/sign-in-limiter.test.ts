import { describe, expect, it } from 'vitest';
import { createSignInLimiter } from '../src/sign-in-limiter.js';

function clock(start = 1_000_000) {
  let time = start;
  return { now: () => time, advance: (ms: number) => (time += ms) };
}

describe('createSignInLimiter', () => {
  it('blocks after 10 failures within a minute, until the oldest leaves the window', () => {
    const time = clock();
    const limiter = createSignInLimiter({ now: time.now });
    for (let failure = 0; failure < 9; failure++) {
      expect(limiter.retryAfter('alice', '10.0.0.1')).toBeUndefined();
      limiter.failed('alice', '10.0.0.1');
      time.advance(1000);
    }
    expect(limiter.retryAfter('alice', '10.0.0.1')).toBeUndefined();
    limiter.failed('alice', '10.0.0.1'); // the 10th, 9 s after the first
    expect(limiter.retryAfter('alice', '10.0.0.1')).toBe(51);
    time.advance(50_500);
    expect(limiter.retryAfter('alice', '10.0.0.1')).toBe(1); // 0.5 s left, rounded up
    time.advance(500);
    expect(limiter.retryAfter('alice', '10.0.0.1')).toBeUndefined(); // 9 failures left in the window
    limiter.failed('alice', '10.0.0.1');
    expect(limiter.retryAfter('alice', '10.0.0.1')).toBe(1); // the second failure leaves 1 s later
  });

  it('counts only failures inside the sliding window', () => {
    const time = clock();
    const limiter = createSignInLimiter({ now: time.now });
    for (let failure = 0; failure < 30; failure++) {
      limiter.failed('alice', '10.0.0.1');
      time.advance(7000); // at most 9 within any 60 s
      expect(limiter.retryAfter('alice', '10.0.0.1')).toBeUndefined();
    }
  });

  it('keeps accounts and addresses apart', () => {
    const limiter = createSignInLimiter({ maxFailures: 3, now: clock().now });
    for (let failure = 0; failure < 3; failure++) limiter.failed('alice', '10.0.0.1');
    expect(limiter.retryAfter('alice', '10.0.0.1')).toBe(60);
    expect(limiter.retryAfter('alice', '10.0.0.2')).toBeUndefined();
    expect(limiter.retryAfter('bob', '10.0.0.1')).toBeUndefined();
    for (let failure = 0; failure < 3; failure++) limiter.failed('a\u0000b', 'c');
    expect(limiter.retryAfter('a', 'b\u0000c')).toBeUndefined();
  });

  it('forgets the failures of a pair that signs in', () => {
    const limiter = createSignInLimiter({ maxFailures: 3, now: clock().now });
    for (let failure = 0; failure < 3; failure++) limiter.failed('alice', '10.0.0.1');
    limiter.succeeded('alice', '10.0.0.1');
    expect(limiter.retryAfter('alice', '10.0.0.1')).toBeUndefined();
    limiter.failed('alice', '10.0.0.1');
    limiter.failed('alice', '10.0.0.1');
    expect(limiter.retryAfter('alice', '10.0.0.1')).toBeUndefined();
  });

  it('honours maxFailures and windowMs', () => {
    const time = clock();
    const limiter = createSignInLimiter({ maxFailures: 2, windowMs: 10_000, now: time.now });
    limiter.failed('alice', '10.0.0.1');
    expect(limiter.retryAfter('alice', '10.0.0.1')).toBeUndefined();
    limiter.failed('alice', '10.0.0.1');
    expect(limiter.retryAfter('alice', '10.0.0.1')).toBe(10);
    time.advance(10_000);
    expect(limiter.retryAfter('alice', '10.0.0.1')).toBeUndefined();
  });

  it('remembers at most maxEntries pairs, dropping the least recently failed', () => {
    const limiter = createSignInLimiter({ maxFailures: 1, maxEntries: 3, now: clock().now });
    limiter.failed('alice', 'a');
    limiter.failed('bob', 'a');
    limiter.failed('carol', 'a');
    limiter.failed('alice', 'a'); // alice becomes the most recent
    limiter.failed('dave', 'a'); // the table is full: bob goes
    expect(limiter.retryAfter('bob', 'a')).toBeUndefined();
    for (const account of ['alice', 'carol', 'dave']) expect(limiter.retryAfter(account, 'a')).toBe(60);
    limiter.failed('erin', 'a'); // then carol
    expect(limiter.retryAfter('carol', 'a')).toBeUndefined();
    for (const account of ['alice', 'dave', 'erin']) expect(limiter.retryAfter(account, 'a')).toBe(60);
  });
});

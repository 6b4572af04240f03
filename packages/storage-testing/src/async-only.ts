import { AssertionError } from 'node:assert';

/** Methods that return an async iterable rather than a promise: their failures belong in the iteration. */
const ITERATING_METHODS = new Set(['listBlobs']);

/** Properties that hold a further object of methods the registry calls (the metadata store's outbox). */
const NESTED_OBJECTS = new Set(['outbox']);

/**
 * The store as the suites call it: every method that throws synchronously fails the test with a message
 * saying so, instead of the thrown error itself (which would read like the store answering wrongly). The
 * registry chains on what a store method returns (`await`, `.catch`, `Promise.all`), so a synchronous
 * throw escapes the handling meant for a failure: an `async` method, or `Promise.reject(error)`, is the fix.
 * Methods run on the store itself, so its private fields work as usual.
 */
export function asyncOnly<T extends object>(store: T, name: string): T {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key, target);
      if (typeof key === 'symbol') return value;
      if (typeof value === 'function') {
        if (!wrapped.has(key)) wrapped.set(key, guarded(target, value as (...args: unknown[]) => unknown, `${name}.${key}()`, ITERATING_METHODS.has(key)));
        return wrapped.get(key);
      }
      if (NESTED_OBJECTS.has(key) && typeof value === 'object' && value !== null) return asyncOnly(value, `${name}.${key}`);
      return value;
    },
  });
}

function guarded(target: object, method: (...args: unknown[]) => unknown, call: string, iterates: boolean): (...args: unknown[]) => unknown {
  return (...args) => {
    try {
      return method.apply(target, args);
    } catch (error) {
      const instead = iterates ? 'an async iterable that fails when iterated' : 'a rejected promise';
      throw new AssertionError({
        message: `${call} threw synchronously (${summary(error)}): it must return ${instead} instead, as callers chain on its result (make it async, or return Promise.reject(error))`,
      });
    }
  };
}

function summary(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

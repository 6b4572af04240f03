import { isRegistryError, type MetadataStore } from '@berth/core';

/**
 * How a manifest GET or HEAD was answered:
 * - `stored`: the stored bytes (by digest, or by tag when the client accepts their type);
 * - `child`: a list or index resolved to the child for the preferred platform, served as stored;
 * - `schema1` / `schema2`: converted to that format (a list's child included);
 * - `refused`: negotiation found no form the client can read (404 MANIFEST_UNKNOWN saying why).
 */
export type NegotiationOutcome = 'stored' | 'child' | 'schema1' | 'schema2' | 'refused';

/** Where a blob the metadata names turned out to be missing from the blob store. */
export type MissingBlobUse = 'blob-read' | 'conversion';

/**
 * What the registry service reports as it works, for metrics. Every method is optional and is called
 * synchronously; an observer must not throw (what it throws is ignored). The Koa package implements
 * one with prom-client; a host may pass its own (`observer` option) to feed another system.
 */
export interface RegistryObserver {
  /** A manifest was served (or refused) to a GET or HEAD. */
  manifestServed?(event: { repository: string; outcome: NegotiationOutcome }): void;
  /** A conversion was asked of the in-process cache of recent conversions. */
  conversionCache?(event: { format: 'schema1' | 'schema2'; hit: boolean }): void;
  /** A metadata store operation failed with something other than a client's error (a 5xx or a fault). */
  metadataStoreError?(event: { operation: string; error: unknown }): void;
  /** A blob linked in the metadata is missing from the blob store. */
  blobMissing?(event: { repository: string; digest: string; use: MissingBlobUse }): void;
  /** A blob upload began (`+1`) or finished (`-1`) receiving request bytes in this process. */
  uploadReceiving?(change: 1 | -1): void;
  /** An upload was verified and published into a repository. */
  blobUploaded?(event: { repository: string; digest: string; size: number }): void;
  /** A garbage collection run finished (reported by the collector). */
  gcRun?(event: { bytesFreed: number; blobsDeleted?: number }): void;
  /**
   * A read of a mirrored repository was answered: from the cache (`hit`, a tag revalidated included), from
   * the upstream (`miss`), from the cache because the upstream failed (`stale`), or not at all (`unavailable`).
   */
  mirrorRead?(event: { repository: string; kind: 'manifest' | 'blob'; outcome: MirrorReadOutcome }): void;
  /** Bytes of blobs and manifests received from an upstream. */
  mirrorUpstreamBytes?(event: { upstream: string; bytes: number }): void;
}

/** How a read of a mirrored repository was answered (see RegistryObserver.mirrorRead). */
export type MirrorReadOutcome = 'hit' | 'miss' | 'stale' | 'unavailable';

type ObserverEvents = { [K in keyof RegistryObserver]-?: Parameters<NonNullable<RegistryObserver[K]>>[0] };

/** One observer calling each of several in turn; a throwing observer never breaks a request. */
export function combineObservers(observers: ReadonlyArray<RegistryObserver | undefined>): Required<RegistryObserver> {
  const present = observers.filter((observer): observer is RegistryObserver => observer !== undefined);
  const relay =
    <K extends keyof RegistryObserver>(name: K) =>
    (event: ObserverEvents[K]): void => {
      for (const observer of present) {
        try {
          (observer[name] as ((event: ObserverEvents[K]) => void) | undefined)?.(event);
        } catch {
          // Metrics must never fail the registry's work.
        }
      }
    };
  return {
    manifestServed: relay('manifestServed'),
    conversionCache: relay('conversionCache'),
    metadataStoreError: relay('metadataStoreError'),
    blobMissing: relay('blobMissing'),
    uploadReceiving: relay('uploadReceiving'),
    blobUploaded: relay('blobUploaded'),
    gcRun: relay('gcRun'),
    mirrorRead: relay('mirrorRead'),
    mirrorUpstreamBytes: relay('mirrorUpstreamBytes'),
  };
}

/** Operations not counted as store errors: a readiness probe reports its own failures. */
const UNCOUNTED_OPERATIONS = new Set<PropertyKey>(['ping', 'close']);

/**
 * The metadata store with every rejected call reported to the observer, by method name, unless it is a
 * client's error (a RegistryError below 500: a conflict, an unknown upload). Everything else passes
 * straight through to the store itself, so private fields and `this` work as before.
 */
export function observedMetadataStore(store: MetadataStore, observer: Required<RegistryObserver>): MetadataStore {
  return new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== 'function' || UNCOUNTED_OPERATIONS.has(property) || !isMethod(target, property)) return value;
      const operation = String(property);
      return (...args: unknown[]) => {
        let result: unknown;
        try {
          result = (value as (...args: unknown[]) => unknown).apply(target, args);
        } catch (error) {
          report(observer, operation, error);
          throw error;
        }
        if (result instanceof Promise) {
          return result.catch((error: unknown) => {
            report(observer, operation, error);
            throw error;
          });
        }
        return result;
      };
    },
  });
}

/**
 * A method of the store: on its class (not an own field such as a knex instance, which is callable too),
 * or any function of a store written as a plain object.
 */
function isMethod(target: object, property: PropertyKey): boolean {
  return !Object.hasOwn(target, property) || Object.getPrototypeOf(target) === Object.prototype;
}

function report(observer: Required<RegistryObserver>, operation: string, error: unknown): void {
  if (isRegistryError(error) && error.status < 500) return;
  observer.metadataStoreError({ operation, error });
}

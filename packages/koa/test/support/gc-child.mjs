// A collector in a process of its own, for the kill -9 test: it runs service.gc over the given stores
// and, at the `hangAt`-th blob it is to remove, says "hung" and stops there before deleting its bytes (its
// transaction open, the bytes of the other blobs removed alongside it gone), waiting to be killed. Uses the
// built packages (dist), as a deployed berth would.
import { openFsBlobStore } from '@berth/blobs-fs';
import { createRegistryService } from '@berth/registry';
import { openPostgresMetadataStore } from '@berth/storage-postgres';
import { openSqliteMetadataStore } from '@berth/storage-sqlite';

const [kind, location, blobRoot, hangAt] = process.argv.slice(2);
const metadata =
  kind === 'sqlite' ? await openSqliteMetadataStore({ filename: location }) : await openPostgresMetadataStore({ connection: location });
const fsBlobs = await openFsBlobStore({ root: blobRoot });
let removed = 0;
/** Deletes under way: the hang waits for those started alongside it, so what is gone when it says so is settled. */
const deleting = new Set();
const blobs = new Proxy(fsBlobs, {
  get(target, property) {
    if (property === 'delete') {
      return async (digest) => {
        if (++removed === Number(hangAt)) {
          await new Promise((resolve) => setImmediate(resolve));
          await Promise.allSettled(deleting);
          process.stdout.write('hung\n');
          await new Promise(() => undefined);
        }
        const deleted = target.delete(digest);
        deleting.add(deleted);
        return deleted.finally(() => deleting.delete(deleted));
      };
    }
    const value = Reflect.get(target, property, target);
    return typeof value === 'function' ? value.bind(target) : value;
  },
});
const service = createRegistryService({ metadata, blobs });
await service.gc.run({ grace: 0, batchSize: 2, leaseMs: 300 });
process.stdout.write('finished\n');
await metadata.close();

// A collector in a process of its own, for the kill -9 test: it runs service.gc over the given stores
// and, at the `hangAt`-th blob it removes, says "hung" and stops there (its transaction open, its bytes
// half removed), waiting to be killed. Uses the built packages (dist), as a deployed berth would.
import { openFsBlobStore } from '@berth/blobs-fs';
import { createRegistryService } from '@berth/registry';
import { openPostgresMetadataStore } from '@berth/storage-postgres';
import { openSqliteMetadataStore } from '@berth/storage-sqlite';

const [kind, location, blobRoot, hangAt] = process.argv.slice(2);
const metadata =
  kind === 'sqlite' ? await openSqliteMetadataStore({ filename: location }) : await openPostgresMetadataStore({ connection: location });
const fsBlobs = await openFsBlobStore({ root: blobRoot });
let removed = 0;
const blobs = new Proxy(fsBlobs, {
  get(target, property) {
    if (property === 'delete') {
      return async (digest) => {
        const deleted = await target.delete(digest);
        if (++removed === Number(hangAt)) {
          process.stdout.write('hung\n');
          await new Promise(() => undefined);
        }
        return deleted;
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

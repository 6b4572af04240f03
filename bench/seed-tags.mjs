// Seeds a long tag list straight into a berth server's metadata database, for the tags/list sizes past
// the ones grown by manifest PUTs (the PUT rate is measured on those): 100,000 PUTs would take longer than
// the rest of the bench. Every seeded tag points at the manifest the list already has.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGES = fileURLToPath(new URL('../packages/', import.meta.url));
const requireFrom = (name) => createRequire(join(PACKAGES, name, 'package.json'));

/**
 * Adds the tags `t<from>` .. `t<to - 1>` (zero-padded to `width` digits) to `repository`, all pointing at
 * `digest`, in the server's database: its data directory's berth.sqlite, or `databaseUrl` (PostgreSQL).
 */
export async function seedTags({ dataDir, databaseUrl }, { repository, digest, from, to, width }) {
  const pushedAt = Date.now();
  if (databaseUrl === undefined) {
    const Database = requireFrom('storage-sqlite')('better-sqlite3');
    const db = new Database(join(dataDir, 'berth.sqlite'));
    try {
      db.pragma('busy_timeout = 10000');
      db.prepare(
        `with recursive seq(i) as (select ? union all select i + 1 from seq where i < ?)
         insert into tags (repository, name, digest, pushed_at) select ?, printf('t%0${width}d', i), ?, ? from seq`,
      ).run(from, to - 1, repository, digest, pushedAt);
    } finally {
      db.close();
    }
    return;
  }
  const pg = requireFrom('storage-postgres')('pg');
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(
      `insert into tags (repository, name, digest, pushed_at)
       select $1, 't' || lpad(i::text, ${width}, '0'), $2, $3 from generate_series($4::int, $5::int) as i`,
      [repository, digest, pushedAt, from, to - 1],
    );
    await client.query('analyze tags');
  } finally {
    await client.end();
  }
}

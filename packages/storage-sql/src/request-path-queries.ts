import type { PreparedQuery } from './dialect.js';
import { TABLES } from './tables.js';

// The statements every pull, push or listing runs, written out once so a dialect can prepare each a
// single time per connection (see Dialect.queryPrepared) instead of knex building it again per request.

const MANIFEST_COLUMNS = 'm.repository, m.digest, m.media_type, m.size, m.content, m.subject, m.artifact_type, m.annotations, m.created_at, m.total_size, m.platforms';
const CONVERTED_COLUMNS = 'c.digest as converted_digest, c.media_type as converted_media_type, c.content as converted_content, c.tag as converted_tag';
const TAG_TO_MANIFEST = `${TABLES.tags} t join ${TABLES.manifests} m on m.repository = t.repository and m.digest = t.digest`;

/** Both conversion joins, on the source and the wanted media type; `tagMatch` says which tag the conversion must be for. */
const convertedJoin = (tagMatch: string) =>
  `left join ${TABLES.convertedManifests} c on c.repository = t.repository and c.source_digest = t.digest and c.media_type = ? and ${tagMatch}`;

export const QUERIES = {
  /** Binds repository, tag. */
  taggedManifest: {
    name: 'berth_tagged_manifest',
    sql: `select ${MANIFEST_COLUMNS} from ${TAG_TO_MANIFEST} where t.repository = ? and t.name = ?`,
  },
  /** Binds the conversion's media type, repository, tag: the conversion made for this tag. */
  taggedManifestWithTagConversion: {
    name: 'berth_tagged_manifest_tag_conversion',
    sql: `select ${MANIFEST_COLUMNS}, ${CONVERTED_COLUMNS} from ${TAG_TO_MANIFEST} ${convertedJoin('c.tag = t.name')} where t.repository = ? and t.name = ? order by c.digest limit 1`,
  },
  /** Binds the conversion's media type, repository, tag: a conversion made for no tag in particular. */
  taggedManifestWithConversion: {
    name: 'berth_tagged_manifest_conversion',
    sql: `select ${MANIFEST_COLUMNS}, ${CONVERTED_COLUMNS} from ${TAG_TO_MANIFEST} ${convertedJoin('c.tag is null')} where t.repository = ? and t.name = ? order by c.digest limit 1`,
  },
  /** Binds repository, digest. */
  manifest: {
    name: 'berth_manifest',
    sql: `select ${MANIFEST_COLUMNS} from ${TABLES.manifests} m where m.repository = ? and m.digest = ?`,
  },
  /** Binds repository, digest. */
  convertedManifest: {
    name: 'berth_converted_manifest',
    sql: `select repository, digest, source_digest, media_type, content, tag from ${TABLES.convertedManifests} where repository = ? and digest = ?`,
  },
  /** Binds repository, tag. */
  tagDigest: {
    name: 'berth_tag_digest',
    sql: `select digest from ${TABLES.tags} where repository = ? and name = ?`,
  },
  /** Binds repository, limit: the first page of tags, one range scan of the primary key. */
  firstTags: {
    name: 'berth_first_tags',
    sql: `select name from ${TABLES.tags} where repository = ? order by name limit ?`,
    pluck: true,
  },
  /** Binds repository, last, limit: the page after `last`, one range scan of the primary key. */
  tagsAfter: {
    name: 'berth_tags_after',
    sql: `select name from ${TABLES.tags} where repository = ? and name > ? order by name limit ?`,
    pluck: true,
  },
  /** Binds repository: a row when the repository has a manifest. */
  anyManifest: {
    name: 'berth_any_manifest',
    sql: `select 1 as found from ${TABLES.manifests} where repository = ? limit 1`,
  },
  /** Binds repository: a row when the repository links a blob. */
  anyBlobLink: {
    name: 'berth_any_blob_link',
    sql: `select 1 as found from ${TABLES.blobLinks} where repository = ? limit 1`,
  },
  /** Binds repository, digest. */
  blobLink: {
    name: 'berth_blob_link',
    sql: `select digest, size from ${TABLES.blobLinks} where repository = ? and digest = ?`,
  },
  /** Binds the session id. */
  uploadSession: {
    name: 'berth_upload_session',
    sql: `select id, repository, started_at from ${TABLES.uploadSessions} where id = ?`,
  },
} as const satisfies Record<string, PreparedQuery>;

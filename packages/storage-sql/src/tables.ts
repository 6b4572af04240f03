/** Table names of the metadata schema, shared by the migrations and the store. */
export const TABLES = {
  manifests: 'manifests',
  manifestReferences: 'manifest_references',
  tags: 'tags',
  blobLinks: 'blob_links',
  uploadSessions: 'upload_sessions',
  convertedManifests: 'converted_manifests',
  settings: 'settings',
  eventOutbox: 'event_outbox',
  blobs: 'blobs',
  collectorMarks: 'collector_marks',
  collectorLease: 'collector_lease',
  repositoryUsage: 'repository_usage',
  registryUsage: 'registry_usage',
  mirrorRepositories: 'mirror_repositories',
  mirrorTags: 'mirror_tags',
} as const;

/** The table in which knex records the migrations it applied (plus `<name>_lock`). */
export const MIGRATIONS_TABLE = 'berth_migrations';

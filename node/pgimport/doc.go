// Package pgimport reads a database of the original certctl (its fourteen
// PostgreSQL tables) and sends its rows to the cluster in batches through
// POST /api/v1/import, where each batch becomes one raft entry. It maps the
// original's spellings (lower-case statuses, "local" issuers, colon-hex
// fingerprints) onto the appliance's, keeps a checkpoint so that a run that
// stopped resumes where it was, and in a dry run reports what it would
// import and refuse without writing. It never writes to the database it
// reads, and reaches the cluster only through api/client.
package pgimport

-- corsd schema, version 1.
-- Deployments hold their current document (the validated JSON of a Deployment); every change
-- also writes a full snapshot to revisions and a row to audit, in the same transaction.

CREATE TABLE deployments (
    name TEXT PRIMARY KEY NOT NULL,
    revision INTEGER NOT NULL,
    document TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

-- Revisions outlive a deleted deployment (its numbering continues if the name is reused), so
-- a deletion can be undone with restore.
CREATE TABLE revisions (
    deployment TEXT NOT NULL,
    revision INTEGER NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('create', 'update', 'delete', 'restore')),
    document TEXT NOT NULL,
    author TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (deployment, revision)
) STRICT;

CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    token_name TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    revision INTEGER,
    client TEXT NOT NULL
) STRICT;
CREATE INDEX audit_by_target ON audit (target, id);
CREATE INDEX audit_by_time ON audit (at, id);

-- Secrets are never stored: only their SHA-256.
CREATE TABLE tokens (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    scope TEXT NOT NULL,
    secret_sha256 BLOB NOT NULL UNIQUE,
    created_at TEXT NOT NULL
) STRICT;

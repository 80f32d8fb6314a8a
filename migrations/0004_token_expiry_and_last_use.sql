-- corsd schema, version 4: tokens may expire, and corsd records when each was last used.
-- expires_at: RFC 3339 UTC, NULL = never. last_used_at: written in batches by the server
-- (at most once a minute per token, and at shutdown), NULL = never used.

ALTER TABLE tokens ADD COLUMN expires_at TEXT;
ALTER TABLE tokens ADD COLUMN last_used_at TEXT;

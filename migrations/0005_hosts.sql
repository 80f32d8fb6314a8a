-- corsd schema, version 5: what each host reports after installing a deployment's renders
-- (`corsd agent`, `corsd edge`). One row per (deployment, host), replaced by each report.
-- applied: a JSON object of render format -> the ETag installed.

CREATE TABLE hosts (
    deployment TEXT NOT NULL,
    host TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    revision INTEGER,
    applied TEXT NOT NULL,
    result TEXT NOT NULL CHECK (result IN ('ok', 'error')),
    error TEXT,
    version TEXT,
    PRIMARY KEY (deployment, host)
) STRICT;
CREATE INDEX hosts_by_last_seen ON hosts (last_seen);

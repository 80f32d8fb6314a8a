-- corsd schema, version 3: every deployment document gains its tile cache policy, off
-- (nginx's proxy_cache_valid, per deployment; 0 seconds = nothing cached without upstream
-- freshness). public_host is optional and absent until set. Revisions first; a deployment's
-- current document is the snapshot of its current revision, and is copied from it.

UPDATE revisions SET document = json_set(document, '$.cache', json('{"tiles_ttl_s": 0, "metadata_ttl_s": 0}'))
WHERE json_type(document, '$.cache') IS NULL;

UPDATE deployments SET document = (
    SELECT r.document FROM revisions AS r WHERE r.deployment = deployments.name AND r.revision = deployments.revision)
WHERE EXISTS (SELECT 1 FROM revisions AS r WHERE r.deployment = deployments.name AND r.revision = deployments.revision);

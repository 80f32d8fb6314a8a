-- corsd schema, version 2: documents gain the shape of corsd 0.2.
-- * systemd_units entries name the unit and the user it runs as: each old name becomes
--   {"unit": name, "user": U}, U being the user whose nofile limits the old drop-in used (the
--   first user-name domain with a nofile entry), or omero-web when there was none (the drop-in
--   then falls back to the "*" entries, as before).
-- * cors.urls_regex (CORS_URLS_REGEX) is new; existing deployments keep django-cors-headers'
--   default, every path (".*"). New deployments default to the tile routes.
-- Every revision is rewritten (so old revisions can be restored); a deployment's current
-- document is the snapshot of its current revision, and is copied from it.

UPDATE revisions SET document = json_set(document, '$.systemd_units', json((
    SELECT json_group_array(json_object('unit', unit, 'user', COALESCE((
        SELECT json_extract(l.value, '$.domain') FROM json_each(revisions.document, '$.limits') AS l
        WHERE json_extract(l.value, '$.item') = 'nofile'
          AND substr(json_extract(l.value, '$.domain'), 1, 1) NOT IN ('@', '*', '%')
          AND instr(json_extract(l.value, '$.domain'), ':') = 0
        ORDER BY l.key LIMIT 1), 'omero-web')))
    FROM (SELECT u.value AS unit FROM json_each(revisions.document, '$.systemd_units') AS u ORDER BY u.key))))
WHERE json_type(document, '$.systemd_units[0]') = 'text';

UPDATE revisions SET document = json_set(document, '$.cors.urls_regex', '.*')
WHERE json_type(document, '$.cors.urls_regex') IS NULL;

UPDATE deployments SET document = (
    SELECT r.document FROM revisions AS r WHERE r.deployment = deployments.name AND r.revision = deployments.revision)
WHERE EXISTS (SELECT 1 FROM revisions AS r WHERE r.deployment = deployments.name AND r.revision = deployments.revision);

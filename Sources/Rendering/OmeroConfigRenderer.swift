import CORSPolicy
import CorsdModel

/// `omero-web-config.sh`: the `omero config` commands for OMERO.web 5.x. Idempotent: list
/// settings are read, filtered and `set` whole (never `append`), so a second run leaves the
/// same configuration.
public enum OmeroConfigRenderer {
    public static func render(_ input: RenderInput, dialect override: SettingsDialect? = nil) throws(RenderError) -> Rendered {
        let d = input.deployment
        let version = CorsHeadersVersion(d.django.corsHeadersVersion)
        let dialect = override ?? SettingsDialect(version: version)
        let origins = try whitelistEntries(d.cors, dialect: dialect)
        let sh = Quoting.shell
        let whitelist = "[" + origins.map(Quoting.json).joined(separator: ", ") + "]"
        var middleware = [#"{"index": 0.5, "class": "corsheaders.middleware.CorsMiddleware"}"#]
        if version < .v("4.0") {
            middleware.append(#"{"index": 10, "class": "corsheaders.middleware.CorsPostCsrfMiddleware"}"#)
        }
        var notes = [
            "Requires: the omero command (set OMERO=/path/to/omero to choose one) and python3.",
            "OMERO.web fixes some settings itself: CORS_ALLOW_CREDENTIALS = True and CORS_REPLACE_HTTPS_REFERER = True.",
        ]
        if !d.cors.allowCredentials {
            notes.append("This policy has allow_credentials false, which omero config cannot express: use the settings.py fragment.")
        }
        if d.cors.allowAllOrigins {
            notes.append("WARNING: allow-all with OMERO.web's forced credentials lets any site read logged-in users' data.")
        }
        if !d.cors.allowedOriginPatterns.isEmpty || d.cors.allowMethods != CORSSettings.defaultMethods
            || d.cors.allowHeaders != CORSSettings.defaultHeaders || !d.cors.exposeHeaders.isEmpty || d.cors.preflightMaxAge != 86400 {
            notes.append("Origin patterns, methods, headers, expose headers and max age have no omero config keys: use the settings.py fragment for them.")
        }
        let body = """

        set -eu
        OMERO=${OMERO:-omero}

        # Prints the JSON list in $1 (empty means []) with each JSON item of $3... added once,
        # after removing items that mention $2; keeps every other entry as it was.
        corsd_list() {
            python3 - "$@" <<'CORSD_PY'
        import json, sys
        current, drop, add = sys.argv[1].strip(), sys.argv[2], [json.loads(a) for a in sys.argv[3:]]
        items = json.loads(current) if current else []
        items = [i for i in items if not (drop and drop in json.dumps(i))]
        items += [a for a in add if a not in items]
        print(json.dumps(items))
        CORSD_PY
        }

        apps=$("$OMERO" config get omero.web.apps)
        "$OMERO" config set omero.web.apps "$(corsd_list "$apps" '' \(sh(Quoting.json("corsheaders"))))"

        middleware=$("$OMERO" config get omero.web.middleware)
        "$OMERO" config set omero.web.middleware "$(corsd_list "$middleware" 'corsheaders.middleware.Cors' \(middleware.map(sh).joined(separator: " ")))"

        "$OMERO" config set omero.web.cors_origin_whitelist \(sh(whitelist))
        "$OMERO" config set omero.web.cors_origin_allow_all \(d.cors.allowAllOrigins ? "true" : "false")

        echo "corsd: OMERO.web CORS configuration updated; restart OMERO.web to apply it." >&2

        """
        let what = "omero config commands for OMERO.web 5.x with django-cors-headers \(version)."
        return Rendered(
            text: "#!/bin/sh\n" + header(input, comment: "#", what: what, install: "run as the OMERO.web user: sh omero-web-config.sh", bodyHash: Rendered.sha256(body), notes: notes) + body,
            contentType: "text/x-shellscript; charset=utf-8")
    }
}

import CorsdBase
import CORSPolicy
import CorsdModel

/// What a deployment's policy means in OMERO.web's own configuration (`omero config` keys),
/// shared by the three renders that speak it: the shell script, the container image's
/// `.omero` file and its `CONFIG_…` environment file.
///
/// - `omero.web.apps` gains `corsheaders`; `omero.web.middleware` gains `CorsMiddleware` at
///   index 0.5 (before CommonMiddleware at 2) and, for django-cors-headers 3.x and earlier,
///   `CorsPostCsrfMiddleware` at 10, as OMERO's instructions say. Nothing the host had is
///   dropped: unset list keys start from OMERO.web's defaults.
/// - `omero.web.cors_origin_whitelist` and `omero.web.cors_origin_allow_all` are set.
/// - Everything else goes into `omero.web.django_additional_settings`, which settings.py
///   applies after its forced `CORS_ALLOW_CREDENTIALS = True`: corsd owns every
///   django-cors-headers name there (`managedSettings`) and keeps the host's other pairs.
///
/// django-cors-headers 4.x cannot be configured this way (OMERO.web forces
/// `CORS_REPLACE_HTTPS_REFERER`, which 4.x refuses as corsheaders.E013, and omero config can
/// set settings but not delete one), so those renders are refused for 4.x.
struct OmeroWebConfig {
    static let corsMiddleware = #"{"index": 0.5, "class": "corsheaders.middleware.CorsMiddleware"}"#
    static let postCsrfMiddleware = #"{"index": 10, "class": "corsheaders.middleware.CorsPostCsrfMiddleware"}"#

    /// OMERO.web 5.x's default `omero.web.middleware` (omeroweb/settings.py).
    static let defaultMiddleware = [
        #"{"index": 1, "class": "django.middleware.common.BrokenLinkEmailsMiddleware"}"#,
        #"{"index": 2, "class": "django.middleware.common.CommonMiddleware"}"#,
        #"{"index": 3, "class": "django.contrib.sessions.middleware.SessionMiddleware"}"#,
        #"{"index": 4, "class": "django.middleware.csrf.CsrfViewMiddleware"}"#,
        #"{"index": 5, "class": "django.contrib.messages.middleware.MessageMiddleware"}"#,
        #"{"index": 6, "class": "django.middleware.clickjacking.XFrameOptionsMiddleware"}"#,
    ]

    /// Every django-cors-headers setting name, both spellings: corsd owns these in
    /// `omero.web.django_additional_settings`.
    static let managedSettings = [
        "CORS_ALLOW_ALL_ORIGINS", "CORS_ORIGIN_ALLOW_ALL", "CORS_ALLOWED_ORIGINS", "CORS_ORIGIN_WHITELIST",
        "CORS_ALLOWED_ORIGIN_REGEXES", "CORS_ORIGIN_REGEX_WHITELIST", "CORS_ALLOW_METHODS", "CORS_ALLOW_HEADERS",
        "CORS_EXPOSE_HEADERS", "CORS_PREFLIGHT_MAX_AGE", "CORS_ALLOW_CREDENTIALS", "CORS_ALLOW_PRIVATE_NETWORK",
        "CORS_URLS_REGEX", "CORS_REPLACE_HTTPS_REFERER",
    ]

    let version: CorsHeadersVersion
    let dialect: SettingsDialect
    /// JSON items to add to `omero.web.middleware` (each once).
    let middleware: [String]
    /// JSON list for `omero.web.cors_origin_whitelist`.
    let whitelist: String
    let allowAll: Bool
    /// JSON `[name, value]` pairs for `omero.web.django_additional_settings`.
    let additionalSettings: [String]

    init(_ d: Deployment, dialect override: SettingsDialect?, format: String) throws(FieldIssue) {
        version = CorsHeadersVersion(d.django.corsHeadersVersion)
        dialect = override ?? SettingsDialect(version: version)
        if version >= .v("4.0") {
            throw FieldIssue(field: "django.cors_headers_version", rule: .omeroConfig4x,
                              message: "django-cors-headers \(version) refuses the CORS_REPLACE_HTTPS_REFERER that OMERO.web forces (corsheaders.E013), and \(format) can set settings but not remove one: render settings.py instead")
        }
        try checkExpressible(d.cors, version: version)
        middleware = [Self.corsMiddleware, Self.postCsrfMiddleware]
        whitelist = "[" + (try whitelistEntries(d.cors, dialect: dialect)).map(Quoting.json).joined(separator: ", ") + "]"
        allowAll = d.cors.allowAllOrigins
        let c = d.cors
        func list(_ values: [String]) -> String { "[" + values.map(Quoting.json).joined(separator: ", ") + "]" }
        func pair(_ name: String, _ json: String) -> String { "[\(Quoting.json(name)), \(json)]" }
        additionalSettings = [
            pair("CORS_ALLOW_CREDENTIALS", c.allowCredentials ? "true" : "false"),
            pair(dialect.regexesName, list(c.allowedOriginPatterns.map(\.regex.python))),
            pair("CORS_ALLOW_METHODS", list(c.allowMethods)),
            pair("CORS_ALLOW_HEADERS", list(c.allowHeaders)),
            pair("CORS_EXPOSE_HEADERS", list(c.exposeHeaders)),
            pair("CORS_PREFLIGHT_MAX_AGE", String(c.preflightMaxAge)),
            pair("CORS_URLS_REGEX", Quoting.json(c.urlsRegex.pythonPrefix)),
        ]
    }

    var additionalSettingsJSON: String { "[" + additionalSettings.joined(separator: ", ") + "]" }
    var allowAllText: String { allowAll ? "true" : "false" }

    /// The full `omero.web.middleware` list for a host that never set it: OMERO.web's
    /// defaults plus corsd's entries (what the environment file must carry whole).
    var fullMiddleware: String { "[" + (Self.defaultMiddleware + middleware).joined(separator: ", ") + "]" }

    /// Notes every OMERO-config render carries.
    func notes(_ d: Deployment) -> [String] {
        var notes = ["OMERO.web forces CORS_ALLOW_CREDENTIALS = True; corsd's omero.web.django_additional_settings pairs override it with the policy's value."]
        if d.cors.allowAllOrigins && d.cors.allowCredentials {
            notes.append("WARNING: allow-all with credentials lets any site read logged-in users' data.")
        }
        return notes
    }
}

/// Policy fields a django-cors-headers version has no setting for: refused, never dropped.
func checkExpressible(_ cors: CORSSettings, version: CorsHeadersVersion) throws(FieldIssue) {
    if cors.allowPrivateNetwork && version < .v("4.0") {
        throw FieldIssue(field: "cors.allow_private_network", rule: .unsupportedByVersion,
                          message: "django-cors-headers \(version) has no CORS_ALLOW_PRIVATE_NETWORK (4.0+): set it to false or raise django.cors_headers_version")
    }
}

/// `omero-web-config.sh`: `omero config` commands for OMERO.web 5.x, safe to run again (and
/// from an empty configuration): list keys are extended with `append --set`, which starts
/// from OMERO.web's defaults when the key was never set and adds an item only once.
public enum OmeroConfigScriptRenderer {
    public static func render(_ input: RenderInput, dialect: SettingsDialect? = nil) throws(FieldIssue) -> Rendered {
        let d = input.deployment
        let config = try OmeroWebConfig(d, dialect: dialect, format: "omero config")
        let sh = Quoting.shell
        let managed = "[" + OmeroWebConfig.managedSettings.map(Quoting.json).joined(separator: ", ") + "]"
        var lines = [
            "",
            "set -eu",
            "OMERO=${OMERO:-omero}",
            "",
            "\"$OMERO\" config append --set omero.web.apps \(sh(Quoting.json("corsheaders")))",
            "",
            "# Each corsheaders middleware once, at its index: other entries of exactly that class are removed.",
            "corsd_stale() {",
            "    python3 -c 'import json, sys",
            "items = json.loads(sys.argv[1]) if sys.argv[1].strip() else []",
            "want = json.loads(sys.argv[2])",
            "for i in items:",
            "    if isinstance(i, dict) and i.get(\"class\") == want[\"class\"] and i != want:",
            "        print(json.dumps(i))' \"$@\"",
            "}",
        ]
        for entry in config.middleware {
            lines += [
                "corsd_stale \"$(\"$OMERO\" config get omero.web.middleware)\" \(sh(entry)) | while IFS= read -r stale; do",
                "    \"$OMERO\" config remove omero.web.middleware \"$stale\"",
                "done",
                "\"$OMERO\" config append --set omero.web.middleware \(sh(entry))",
            ]
        }
        lines += [
            "",
            "\"$OMERO\" config set omero.web.cors_origin_whitelist \(sh(config.whitelist))",
            "\"$OMERO\" config set omero.web.cors_origin_allow_all \(config.allowAllText)",
            "",
            "# django-cors-headers settings without an omero.web key: corsd's pairs replace any pair",
            "# of the same names; the host's other pairs are kept.",
            "current=$(\"$OMERO\" config get omero.web.django_additional_settings)",
            "merged=$(python3 -c 'import json, sys",
            "current = json.loads(sys.argv[1]) if sys.argv[1].strip() else []",
            "managed, ours = set(json.loads(sys.argv[2])), json.loads(sys.argv[3])",
            "kept = [p for p in current if not (isinstance(p, list) and p and p[0] in managed)]",
            "print(json.dumps(kept + ours))' \"$current\" \(sh(managed)) \(sh(config.additionalSettingsJSON)))",
            "\"$OMERO\" config set omero.web.django_additional_settings \"$merged\"",
            "",
            "echo \"corsd: OMERO.web CORS configuration updated; restart OMERO.web to apply it.\" >&2",
            "",
        ]
        let body = lines.joined(separator: "\n")
        let notes = ["Requires: the omero command (set OMERO=/path/to/omero to choose one) and python3."] + config.notes(d)
        let what = "omero config commands for OMERO.web 5.x with django-cors-headers \(config.version)."
        return Rendered(
            text: "#!/bin/sh\n" + header(input, comment: "#", what: what, install: "run as the OMERO.web user: sh omero-web-config.sh", bodyHash: Rendered.sha256(body), notes: notes) + body,
            contentType: "text/x-shellscript; charset=utf-8")
    }
}

/// `omero-web.omero`: for the OMERO.web container image, which runs `omero load` on
/// `/opt/omero/web/config/*.omero` at start (one `omero` command a line).
public enum OmeroLoadFileRenderer {
    public static func render(_ input: RenderInput, dialect: SettingsDialect? = nil) throws(FieldIssue) -> Rendered {
        let d = input.deployment
        let config = try OmeroWebConfig(d, dialect: dialect, format: "an .omero file")
        let sh = Quoting.shell
        var lines = ["config append --set omero.web.apps \(sh(Quoting.json("corsheaders")))"]
        lines += config.middleware.map { "config append --set omero.web.middleware \(sh($0))" }
        lines += [
            "config set omero.web.cors_origin_whitelist \(sh(config.whitelist))",
            "config set omero.web.cors_origin_allow_all \(config.allowAllText)",
            "config set omero.web.django_additional_settings \(sh(config.additionalSettingsJSON))",
        ]
        let body = lines.joined(separator: "\n") + "\n"
        let notes = config.notes(d) + ["This file sets omero.web.django_additional_settings whole: add other pairs to it after this file, not before."]
        return Rendered(
            text: header(input, comment: "#", what: "omero load file for the OMERO.web container image, django-cors-headers \(config.version).",
                         install: "/opt/omero/web/config/90-corsd.omero", bodyHash: Rendered.sha256(body), notes: notes) + body,
            contentType: "text/plain; charset=utf-8")
    }
}

/// `omero-web.env`: `CONFIG_…` variables for the OMERO.web container image (`docker run
/// --env-file`, compose `env_file`). Each variable *sets* its key, so list keys carry the full
/// list: OMERO.web's defaults plus corsd's entries.
public enum OmeroEnvFileRenderer {
    /// The image's mapping: `_` becomes `__`, then `.` becomes `_`.
    static func variable(_ key: String) -> String {
        "CONFIG_" + key.replacingAll("_", with: "__").replacingAll(".", with: "_")
    }

    public static func render(_ input: RenderInput, dialect: SettingsDialect? = nil) throws(FieldIssue) -> Rendered {
        let d = input.deployment
        let config = try OmeroWebConfig(d, dialect: dialect, format: "an environment file")
        let pairs = [
            ("omero.web.apps", "[" + Quoting.json("corsheaders") + "]"),
            ("omero.web.middleware", config.fullMiddleware),
            ("omero.web.cors_origin_whitelist", config.whitelist),
            ("omero.web.cors_origin_allow_all", config.allowAllText),
            ("omero.web.django_additional_settings", config.additionalSettingsJSON),
        ]
        for (key, value) in pairs where value.contains("$") || value.contains(" #") {
            // Compose interpolates `$` and cuts unquoted values at ` #`; docker --env-file quotes nothing.
            throw FieldIssue(field: key == "omero.web.cors_origin_whitelist" ? "cors.allowed_origins" : "cors", rule: .envFileValue,
                              message: "the value for \(key) contains '$' or ' #', which an environment file cannot carry the same way for docker and compose: use omero-web.omero instead")
        }
        let body = pairs.map { "\(variable($0.0))=\($0.1)" }.joined(separator: "\n") + "\n"
        let notes = config.notes(d) + ["Each variable sets its key whole: do not also set these keys elsewhere in the container's environment."]
        return Rendered(
            text: header(input, comment: "#", what: "CONFIG_ environment for the OMERO.web container image, django-cors-headers \(config.version).",
                         install: "docker run --env-file omero-web.env …, or env_file: in compose", bodyHash: Rendered.sha256(body), notes: notes) + body,
            contentType: "text/plain; charset=utf-8")
    }
}

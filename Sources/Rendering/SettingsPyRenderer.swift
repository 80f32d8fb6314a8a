import CORSPolicy
import CorsdModel

/// The fragment for OMERO.web's `settings.py`, pasted (or included) just before its
/// `# Load server list and freeze` block. Running it twice leaves the same settings.
public enum SettingsPyRenderer {
    static let middleware = "corsheaders.middleware.CorsMiddleware"
    static let commonMiddleware = "django.middleware.common.CommonMiddleware"

    public static func render(_ input: RenderInput, dialect override: SettingsDialect? = nil) throws(RenderError) -> Rendered {
        let d = input.deployment
        let version = CorsHeadersVersion(d.django.corsHeadersVersion)
        let dialect = override ?? SettingsDialect(version: version)
        let cors = d.cors
        let py = Quoting.python

        var body = """

        def _corsd_placed(seq, item, before):
            # seq with item exactly once: just before `before` if present, else first.
            # Keeps the tuple or list type, so it works on either shape of settings.
            items = [x for x in seq if x != item]
            items.insert(items.index(before) if before in items else 0, item)
            return type(seq)(items)


        if 'corsheaders' not in INSTALLED_APPS:
            INSTALLED_APPS = type(INSTALLED_APPS)(list(INSTALLED_APPS) + ['corsheaders'])

        # CorsMiddleware must run before CommonMiddleware, or 304 Not Modified answers
        # (USE_ETAGS) lose their CORS headers and browsers refuse them.
        for _corsd_name in ('MIDDLEWARE', 'MIDDLEWARE_CLASSES'):
            if _corsd_name in globals():
                globals()[_corsd_name] = _corsd_placed(globals()[_corsd_name], \(py(middleware)), \(py(commonMiddleware)))
        del _corsd_name, _corsd_placed


        """
        func tuple(_ values: [String]) -> String {
            values.isEmpty ? "()" : "(" + values.map(py).joined(separator: ", ") + (values.count == 1 ? ",)" : ")")
        }
        let origins = try whitelistEntries(cors, dialect: dialect)
        var settings: [(String, String)] = [
            (dialect.allAllowedName, cors.allowAllOrigins ? "True" : "False"),
            (dialect.originsName, tuple(origins)),
            (dialect.regexesName, tuple(cors.allowedOriginPatterns.map(pythonRegex))),
            ("CORS_ALLOW_METHODS", tuple(cors.allowMethods)),
            ("CORS_ALLOW_HEADERS", tuple(cors.allowHeaders)),
            ("CORS_EXPOSE_HEADERS", tuple(cors.exposeHeaders)),
            ("CORS_ALLOW_CREDENTIALS", cors.allowCredentials ? "True" : "False"),
            ("CORS_PREFLIGHT_MAX_AGE", String(cors.preflightMaxAge)),
        ]
        var notes: [String] = []
        if version >= .v("4.0") {
            settings.append(("CORS_ALLOW_PRIVATE_NETWORK", cors.allowPrivateNetwork ? "True" : "False"))
        } else if cors.allowPrivateNetwork {
            notes.append("allow_private_network is set, but django-cors-headers \(version) has no such setting (4.0+).")
        }
        if dialect == .legacy {
            notes.append("django-cors-headers < 3.0 compares hosts only: each entry also allows the other scheme.")
        }
        if !cors.allowedOriginPatterns.isEmpty {
            notes.append("Patterns are anchored (^...\\Z) so that they match whole origins, as corsd does.")
        }
        body += settings.map { "\($0.0) = \($0.1)" }.joined(separator: "\n") + "\n"
        let what = "settings.py fragment for django-cors-headers \(version) (\(dialect.rawValue) settings names)."
        let install = "paste or include just before the '# Load server list and freeze' block of OMERO.web's settings.py"
        return Rendered(
            text: header(input, comment: "#", what: what, install: install, bodyHash: Rendered.sha256(body), notes: notes) + body,
            contentType: "text/x-python; charset=utf-8")
    }
}

import CorsdBase
import CORSPolicy
import CorsdModel

/// The fragment for OMERO.web's `settings.py`, pasted (or included) just before its
/// `# Load server list and freeze` block — after OMERO.web's forced CORS values and its
/// `django_additional_settings`, so the policy here wins. Running it twice leaves the same
/// settings.
public enum SettingsPyRenderer {
    static let middleware = "corsheaders.middleware.CorsMiddleware"
    static let postCsrfMiddleware = "corsheaders.middleware.CorsPostCsrfMiddleware"
    static let commonMiddleware = "django.middleware.common.CommonMiddleware"

    public static func render(_ input: RenderInput, dialect override: SettingsDialect? = nil) throws(FieldIssue) -> Rendered {
        let d = input.deployment
        let version = CorsHeadersVersion(d.django.corsHeadersVersion)
        let dialect = override ?? SettingsDialect(version: version)
        let cors = d.cors
        let py = Quoting.python
        try checkExpressible(cors, version: version)
        let is4x = version >= .v("4.0")

        var body = """

        def _corsd_placed(seq, item, before):
            # seq with item exactly once: just before `before` if present, else first (or, with
            # before=None, last). Keeps the tuple or list type, so it works on either shape.
            items = [x for x in seq if x != item]
            if before is None:
                items.append(item)
            else:
                items.insert(items.index(before) if before in items else 0, item)
            return type(seq)(items)


        if 'corsheaders' not in INSTALLED_APPS:
            INSTALLED_APPS = type(INSTALLED_APPS)(list(INSTALLED_APPS) + ['corsheaders'])

        # CorsMiddleware must run before CommonMiddleware, or 304 Not Modified answers
        # (USE_ETAGS) lose their CORS headers and browsers refuse them.
        for _corsd_name in ('MIDDLEWARE', 'MIDDLEWARE_CLASSES'):
            if _corsd_name in globals():
                _corsd_value = _corsd_placed(globals()[_corsd_name], \(py(middleware)), \(py(commonMiddleware)))

        """
        if is4x {
            body += """
                    # django-cors-headers 4.x has no CorsPostCsrfMiddleware.
                    _corsd_value = type(_corsd_value)(x for x in _corsd_value if x != \(py(postCsrfMiddleware)))

            """
        } else {
            body += """
                    # As OMERO's instructions do (omero.web.middleware index 10): last.
                    _corsd_value = _corsd_placed(_corsd_value, \(py(postCsrfMiddleware)), None)

            """
        }
        body += """
                globals()[_corsd_name] = _corsd_value
        del _corsd_name, _corsd_placed
        globals().pop('_corsd_value', None)


        """
        if is4x {
            body += """
            # OMERO.web sets CORS_REPLACE_HTTPS_REFERER, which django-cors-headers 4.x refuses
            # (corsheaders.E013) and which would stop `omero web start`.
            globals().pop('CORS_REPLACE_HTTPS_REFERER', None)

            """
        }
        func tuple(_ values: [String]) -> String {
            values.isEmpty ? "()" : "(" + values.map(py).joined(separator: ", ") + (values.count == 1 ? ",)" : ")")
        }
        let origins = try whitelistEntries(cors, dialect: dialect)
        var settings: [(String, String)] = [
            (dialect.allAllowedName, cors.allowAllOrigins ? "True" : "False"),
            (dialect.originsName, tuple(origins)),
            (dialect.regexesName, tuple(cors.allowedOriginPatterns.map(\.regex.python))),
            ("CORS_ALLOW_METHODS", tuple(cors.allowMethods)),
            ("CORS_ALLOW_HEADERS", tuple(cors.allowHeaders)),
            ("CORS_EXPOSE_HEADERS", tuple(cors.exposeHeaders)),
            ("CORS_ALLOW_CREDENTIALS", cors.allowCredentials ? "True" : "False"),
            ("CORS_PREFLIGHT_MAX_AGE", String(cors.preflightMaxAge)),
            ("CORS_URLS_REGEX", py(cors.urlsRegex.pythonPrefix)),
        ]
        if is4x {
            settings.append(("CORS_ALLOW_PRIVATE_NETWORK", cors.allowPrivateNetwork ? "True" : "False"))
        }
        var notes: [String] = []
        if dialect == .legacy {
            notes.append("django-cors-headers < 3.0 compares hosts only: each entry also allows the other scheme.")
        }
        if !cors.allowedOriginPatterns.isEmpty {
            notes.append("Patterns are anchored ((?a)^(?:...)\\Z) so that they match whole origins, as corsd does.")
        }
        body += settings.map { "\($0.0) = \($0.1)" }.joined(separator: "\n") + "\n"
        // The other spelling of each aliased name would win (3.5+) or be read instead: remove it.
        let otherNames = SettingsDialect.allCases.filter { $0 != dialect }
            .flatMap { [$0.allAllowedName, $0.originsName, $0.regexesName] }
            .filter { name in !settings.contains { $0.0 == name } }
        for name in Set(otherNames).sorted() { body += "globals().pop(\(py(name)), None)\n" }
        let what = "settings.py fragment for django-cors-headers \(version) (\(dialect.rawValue) settings names)."
        let install = "paste or include just before the '# Load server list and freeze' block of OMERO.web's settings.py"
        return Rendered(
            text: header(input, comment: "#", what: what, install: install, bodyHash: Rendered.sha256(body), notes: notes) + body,
            contentType: "text/x-python; charset=utf-8")
    }
}

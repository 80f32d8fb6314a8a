import CorsdModel
import Testing

private func obj(_ pairs: [String: JSONValue]) -> JSONValue { .object(pairs) }
private func cors(_ pairs: [String: JSONValue]) -> JSONValue { obj(["cors": obj(pairs)]) }
private func strings(_ s: [String]) -> JSONValue { .array(s.map(JSONValue.string)) }
private func limits(_ entries: [[String: JSONValue]]) -> JSONValue { obj(["limits": .array(entries.map(JSONValue.object))]) }
private func units(_ pairs: [(String, String)]) -> JSONValue {
    obj(["systemd_units": .array(pairs.map { .object(["unit": .string($0.0), "user": .string($0.1)]) })])
}
private func limit(_ d: String, _ t: String, _ i: String, _ v: JSONValue) -> [String: JSONValue] {
    ["domain": .string(d), "type": .string(t), "item": .string(i), "value": v]
}

/// One row per validation rule: a change to a valid deployment and the (field, rule) it must
/// produce, or none for a valid variation. Each row is reported by its name.
@Suite struct ValidationRuleTests {
    struct Row: CustomTestStringConvertible, Sendable {
        var name: String
        var patch: JSONValue
        var expected: (field: String, rule: String)?
        var testDescription: String { name }

        init(_ name: String, _ patch: JSONValue, _ field: String? = nil, _ rule: String? = nil) {
            self.name = name
            self.patch = patch
            self.expected = field.flatMap { f in rule.map { (f, $0) } }
        }
    }

    static let valid: JSONValue = .object(["name": .string("omero-prod"), "upstream": .string("http://omero-web.internal:4080")])

    static let rows: [Row] = [
        Row("NameSlug", obj(["name": .string("Omero_Prod")]), "name", "slug"),
        Row("NameTooLong", obj(["name": .string(String(repeating: "a", count: 64))]), "name", "slug"),
        Row("NameRequired", obj(["name": .null]), "name", "required"),
        Row("NameType", obj(["name": .number(3)]), "name", "type"),
        Row("UnknownField", obj(["colour": .string("red")]), "colour", "unknown_field"),
        Row("UnknownCORSField", cors(["allow_all": .bool(true)]), "cors.allow_all", "unknown_field"),
        Row("DescriptionNewline", obj(["description": .string("a\nb")]), "description", "no_control_characters"),
        Row("DescriptionNUL", obj(["description": .string("a\u{0}b")]), "description", "no_control_characters"),
        Row("DescriptionLineSeparator", obj(["description": .string("a\u{2028}b")]), "description", "no_control_characters"),
        Row("DescriptionTooLong", obj(["description": .string(String(repeating: "d", count: 1001))]), "description", "max_length"),
        Row("UpstreamRequired", obj(["upstream": .null]), "upstream", "required"),
        Row("UpstreamScheme", obj(["upstream": .string("ftp://omero")]), "upstream", "http_url"),
        Row("UpstreamCredentials", obj(["upstream": .string("http://u:p@omero")]), "upstream", "http_url"),
        Row("UpstreamQuery", obj(["upstream": .string("http://omero/?a=b")]), "upstream", "http_url"),
        Row("UpstreamFragment", obj(["upstream": .string("http://omero/#x")]), "upstream", "http_url"),
        Row("UpstreamDotSegment", obj(["upstream": .string("http://omero/../x")]), "upstream", "http_url"),
        Row("UpstreamPrefixOK", obj(["upstream": .string("https://omero.example.org/omero/")])),
        Row("OriginWithoutScheme", cors(["allowed_origins": strings(["viewer.example.org:8080"])]), "cors.allowed_origins[0]", "origin"),
        Row("OriginWithPath", cors(["allowed_origins": strings(["https://a.example", "https://b.example/x"])]), "cors.allowed_origins[1]", "origin"),
        Row("OriginInjection", cors(["allowed_origins": strings(["https://a.example'); import os; #"])]), "cors.allowed_origins[0]", "origin"),
        Row("OriginNullOK", cors(["allowed_origins": strings(["null"])])),
        Row("OriginsNotAList", cors(["allowed_origins": .string("https://a.example")]), "cors.allowed_origins", "type"),
        Row("PatternInvalidRegex", cors(["allowed_origin_patterns": strings(["(unclosed"])]), "cors.allowed_origin_patterns[0]", "pattern"),
        Row("PatternWildcardOK", cors(["allowed_origin_patterns": strings(["https://*.example.org"])])),
        Row("MethodToken", cors(["allow_methods": strings(["GET", "PO ST"])]), "cors.allow_methods[1]", "token"),
        Row("HeaderToken", cors(["allow_headers": strings(["x-ok", "x:bad"])]), "cors.allow_headers[1]", "token"),
        Row("ExposeHeaderToken", cors(["expose_headers": strings(["\"q\""])]), "cors.expose_headers[0]", "token"),
        Row("MaxAgeNegative", cors(["preflight_max_age": .number(-1)]), "cors.preflight_max_age", "range"),
        Row("MaxAgeTooLarge", cors(["preflight_max_age": .number(604801)]), "cors.preflight_max_age", "range"),
        Row("MaxAgeNotInteger", cors(["preflight_max_age": .number(1.5)]), "cors.preflight_max_age", "type"),
        Row("MaxAgeWeekOK", cors(["preflight_max_age": .number(604800)])),
        Row("CredentialsType", cors(["allow_credentials": .string("true")]), "cors.allow_credentials", "type"),
        Row("ModeEnum", cors(["mode": .string("strict")]), "cors.mode", "enum"),
        Row("VersionFormat", obj(["django": obj(["cors_headers_version": .string("latest")])]), "django.cors_headers_version", "version"),
        Row("LimitDomain", limits([limit("om ero", "soft", "nofile", .number(4096))]), "limits[0].domain", "limits_domain"),
        Row("LimitDomainGroupOK", limits([limit("@omero", "-", "nofile", .number(4096))])),
        Row("LimitDomainUidRangeOK", limits([limit("1000:2000", "-", "nofile", .number(4096)), limit("@500:", "soft", "core", .number(0))])),
        Row("LimitDomainUidRangeBackwards", limits([limit("2000:1000", "-", "nofile", .number(4096))]), "limits[0].domain", "limits_domain"),
        Row("LimitDomainWildcardOK", limits([limit("*", "soft", "core", .number(0))])),
        Row("LimitType", limits([limit("omero", "medium", "nofile", .number(1))]), "limits[0].type", "limits_type"),
        Row("LimitItem", limits([limit("omero", "soft", "files", .number(1))]), "limits[0].item", "limits_item"),
        Row("LimitValueNegative", limits([limit("omero", "soft", "nofile", .number(-5))]), "limits[0].value", "limits_value"),
        Row("LimitValueWord", limits([limit("omero", "soft", "nofile", .string("lots"))]), "limits[0].value", "limits_value"),
        Row("LimitUnlimitedOK", limits([limit("omero", "-", "core", .string("unlimited"))])),
        Row("LimitMissingField", limits([["domain": .string("omero"), "type": .string("soft"), "item": .string("nofile")]]), "limits[0].value", "required"),
        Row("SoftAboveHard", limits([limit("omero", "soft", "nofile", .number(70000)), limit("omero", "hard", "nofile", .number(65535))]), "limits[0].value", "soft_le_hard"),
        Row("DuplicateSoft", limits([limit("omero", "soft", "nofile", .number(1)), limit("omero", "-", "nofile", .number(2))]), "limits[1]", "duplicate"),
        Row("NofileAboveNrOpen", limits([limit("omero", "-", "nofile", .number(2_000_000))]), "limits[0].value", "nr_open"),
        Row("NofileAboveNrOpenAllowed", obj(["allow_above_nr_open": .bool(true), "limits": .array([.object(limit("omero", "-", "nofile", .number(2_000_000)))])])),
        Row("LimitInjection", limits([limit("omero\nroot", "-", "nofile", .number(1))]), "limits[0].domain", "no_control_characters"),
        Row("UnitName", units([("omero web.service", "omero-web")]), "systemd_units[0].unit", "unit_name"),
        Row("UnitTypeWithoutLimitNOFILE", units([("omero-web.timer", "omero-web")]), "systemd_units[0].unit", "unit_type"),
        Row("UnitPathTraversal", units([("../../etc/passwd.service", "omero-web")]), "systemd_units[0].unit", "unit_name"),
        Row("UnitNameAlone", obj(["systemd_units": strings(["omero-web.service"])]), "systemd_units[0]", "type"),
        Row("UnitUserRequired", obj(["systemd_units": .array([.object(["unit": .string("omero-web.service")])])]), "systemd_units[0].user", "required"),
        Row("UnitUserName", units([("omero-web.service", "@omero")]), "systemd_units[0].user", "user_name"),
        Row("UnitDuplicate", units([("a.service", "a"), ("a.service", "b")]), "systemd_units[1].unit", "duplicate"),
        Row("UnitTemplateSocketMountSwapOK", units([("omero-web@1.service", "omero-web"), ("omero-web.socket", "omero-web"), ("data.mount", "root"), ("s.swap", "root")])),
        Row("NofileBelow1024", limits([limit("omero", "-", "nofile", .number(512))]), "limits[0].value", "nofile_min"),
        Row("RttimeNotInDebian12", limits([limit("omero", "-", "rttime", .number(5))]), "limits[0].item", "limits_item"),
        Row("ChrootNotALimit", limits([limit("omero", "-", "chroot", .string("/srv"))]), "limits[0].item", "limits_item"),
        Row("NiceRangeOK", limits([limit("@omero", "-", "nice", .number(-20)), limit("omero", "-", "nice", .number(19))])),
        Row("NiceOutOfRange", limits([limit("omero", "-", "nice", .number(20))]), "limits[0].value", "limits_value"),
        Row("NiceNotUnlimited", limits([limit("omero", "-", "nice", .string("unlimited"))]), "limits[0].value", "limits_value"),
        Row("NonewprivsZeroOrOne", limits([limit("omero", "-", "nonewprivs", .number(2))]), "limits[0].value", "limits_value"),
        Row("PercentDomainForMaxloginsOK", limits([limit("%", "-", "maxlogins", .number(4)), limit("%omero", "-", "maxlogins", .number(4)), limit("%:100", "hard", "maxlogins", .number(2))])),
        Row("PercentDomainOnlyForMaxlogins", limits([limit("%omero", "-", "nofile", .number(4096))]), "limits[0].domain", "limits_domain"),
        Row("UidRangeOfUnicodeDigits", limits([limit("\u{0661}\u{0660}:\u{0662}\u{0660}", "-", "nofile", .number(4096))]), "limits[0].domain", "limits_domain"),
        Row("UidRangeWithCombiningMark", limits([limit("10\u{0301}:20", "-", "nofile", .number(4096))]), "limits[0].domain", "limits_domain"),
        Row("NonASCIIUser", limits([limit("omérо", "-", "nofile", .number(4096))]), "limits[0].domain", "limits_domain"),
        Row("PatternCapturingGroup", cors(["allowed_origin_patterns": strings(["https://(a|b)\\.example"])]), "cors.allowed_origin_patterns[0]", "pattern"),
        Row("UrlsRegexOK", cors(["urls_regex": .string("/ome_seadragon/")])),
        Row("UrlsRegexAnchorRefused", cors(["urls_regex": .string("^/api/")]), "cors.urls_regex", "pattern"),
        Row("FileOriginOK", cors(["allowed_origins": strings(["file://"])])),
        Row("UpstreamCAOK", obj(["upstream": .string("https://omero-web.internal"), "upstream_ca": .string(PEMCertificatesTests.certificate)])),
        Row("UpstreamCANullOK", obj(["upstream_ca": .null])),
        Row("UpstreamCANotPEM", obj(["upstream": .string("https://omero-web.internal"), "upstream_ca": .string("not a certificate")]), "upstream_ca", "pem_certificates"),
        Row("UpstreamCAType", obj(["upstream": .string("https://omero-web.internal"), "upstream_ca": .number(1)]), "upstream_ca", "type"),
        Row("UpstreamCAWithHTTPUpstream", obj(["upstream_ca": .string(PEMCertificatesTests.certificate)]), "upstream_ca", "https_upstream"),
    ]

    @Test(arguments: rows)
    func rule(_ row: Row) {
        switch (DeploymentValidator.validate(Self.valid.merged(with: row.patch)), row.expected) {
        case (.success, nil):
            break
        case (.success, let expected?):
            Issue.record("accepted, expected \(expected)")
        case (.failure(let failure), nil):
            Issue.record("rejected: \(failure.issues)")
        case (.failure(let failure), let (field, rule)?):
            #expect(failure.issues.contains { $0.field == field && $0.rule.rawValue == rule }, "got \(failure.issues)")
        }
    }
}

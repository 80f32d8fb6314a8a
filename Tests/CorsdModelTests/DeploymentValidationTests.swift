import CorsdModel
import XCTest

/// One row per validation rule: a change to a valid deployment and the (field, rule) it
/// must produce, or nil for a valid variation.
final class DeploymentValidationTests: XCTestCase {
    static let valid: JSONValue = .object([
        "name": .string("omero-prod"),
        "upstream": .string("http://omero-web.internal:4080"),
    ])

    func validate(_ patch: JSONValue, pathName: String? = nil) -> Result<ValidatedDeployment, ValidationFailure> {
        DeploymentValidator.validate(Self.valid.merged(with: patch), pathName: pathName)
    }

    func testDefaultsForAMinimalDeployment() throws {
        let d = try validate(.object([:])).get().deployment
        XCTAssertEqual(d.cors.allowMethods, ["DELETE", "GET", "OPTIONS", "PATCH", "POST", "PUT"])
        XCTAssertEqual(d.cors.allowHeaders, CORSSettings.defaultHeaders3x, "3.7.0's defaults for OMERO.web's pin")
        let v4 = try validate(.object(["django": .object(["cors_headers_version": .string("4.9.0")])])).get().deployment
        XCTAssertEqual(v4.cors.allowHeaders, ["accept", "authorization", "content-type", "user-agent", "x-csrftoken", "x-requested-with"])
        XCTAssertEqual(d.cors.urlsRegex, CORSSettings.tileRoutesRegex, "new deployments open only the tile routes")
        XCTAssertEqual(d.limits.map(\.domain), ["omero-web", "omero-web"], "OME's packaging runs OMERO.web as omero-web")
        XCTAssertEqual(d.cors.preflightMaxAge, 86400)
        XCTAssertFalse(d.cors.allowAllOrigins)
        XCTAssertFalse(d.cors.allowCredentials)
        XCTAssertEqual(d.cors.mode, .reject)
        XCTAssertEqual(d.django.corsHeadersVersion, "3.7.0")
        XCTAssertEqual(d.limits, LimitEntry.defaults)
    }

    func testRules() {
        func obj(_ pairs: [String: JSONValue]) -> JSONValue { .object(pairs) }
        func cors(_ pairs: [String: JSONValue]) -> JSONValue { obj(["cors": obj(pairs)]) }
        func strings(_ s: [String]) -> JSONValue { .array(s.map(JSONValue.string)) }
        func limits(_ entries: [[String: JSONValue]]) -> JSONValue { obj(["limits": .array(entries.map(JSONValue.object))]) }
        func units(_ pairs: [(String, String)]) -> JSONValue {
            obj(["systemd_units": .array(pairs.map { .object(["unit": .string($0.0), "user": .string($0.1)]) })])
        }
        func limit(_ d: String, _ t: String, _ i: String, _ v: JSONValue) -> [String: JSONValue] {
            ["domain": .string(d), "type": .string(t), "item": .string(i), "value": v]
        }
        let rows: [(name: String, patch: JSONValue, expect: (String, String)?)] = [
            ("NameSlug", obj(["name": .string("Omero_Prod")]), ("name", "slug")),
            ("NameTooLong", obj(["name": .string(String(repeating: "a", count: 64))]), ("name", "slug")),
            ("NameRequired", obj(["name": .null]), ("name", "required")),
            ("NameType", obj(["name": .number(3)]), ("name", "type")),
            ("UnknownField", obj(["colour": .string("red")]), ("colour", "unknown_field")),
            ("UnknownCORSField", cors(["allow_all": .bool(true)]), ("cors.allow_all", "unknown_field")),
            ("DescriptionNewline", obj(["description": .string("a\nb")]), ("description", "no_control_characters")),
            ("DescriptionNUL", obj(["description": .string("a\u{0}b")]), ("description", "no_control_characters")),
            ("DescriptionLineSeparator", obj(["description": .string("a\u{2028}b")]), ("description", "no_control_characters")),
            ("DescriptionTooLong", obj(["description": .string(String(repeating: "d", count: 1001))]), ("description", "max_length")),
            ("UpstreamRequired", obj(["upstream": .null]), ("upstream", "required")),
            ("UpstreamScheme", obj(["upstream": .string("ftp://omero")]), ("upstream", "http_url")),
            ("UpstreamCredentials", obj(["upstream": .string("http://u:p@omero")]), ("upstream", "http_url")),
            ("UpstreamQuery", obj(["upstream": .string("http://omero/?a=b")]), ("upstream", "http_url")),
            ("UpstreamFragment", obj(["upstream": .string("http://omero/#x")]), ("upstream", "http_url")),
            ("UpstreamDotSegment", obj(["upstream": .string("http://omero/../x")]), ("upstream", "http_url")),
            ("UpstreamPrefixOK", obj(["upstream": .string("https://omero.example.org/omero/")]), nil),
            ("OriginWithoutScheme", cors(["allowed_origins": strings(["viewer.example.org:8080"])]), ("cors.allowed_origins[0]", "origin")),
            ("OriginWithPath", cors(["allowed_origins": strings(["https://a.example", "https://b.example/x"])]), ("cors.allowed_origins[1]", "origin")),
            ("OriginInjection", cors(["allowed_origins": strings(["https://a.example'); import os; #"])]), ("cors.allowed_origins[0]", "origin")),
            ("OriginNullOK", cors(["allowed_origins": strings(["null"])]), nil),
            ("OriginsNotAList", cors(["allowed_origins": .string("https://a.example")]), ("cors.allowed_origins", "type")),
            ("PatternInvalidRegex", cors(["allowed_origin_patterns": strings(["(unclosed"])]), ("cors.allowed_origin_patterns[0]", "pattern")),
            ("PatternWildcardOK", cors(["allowed_origin_patterns": strings(["https://*.example.org"])]), nil),
            ("MethodToken", cors(["allow_methods": strings(["GET", "PO ST"])]), ("cors.allow_methods[1]", "token")),
            ("HeaderToken", cors(["allow_headers": strings(["x-ok", "x:bad"])]), ("cors.allow_headers[1]", "token")),
            ("ExposeHeaderToken", cors(["expose_headers": strings(["\"q\""])]), ("cors.expose_headers[0]", "token")),
            ("MaxAgeNegative", cors(["preflight_max_age": .number(-1)]), ("cors.preflight_max_age", "range")),
            ("MaxAgeTooLarge", cors(["preflight_max_age": .number(604801)]), ("cors.preflight_max_age", "range")),
            ("MaxAgeNotInteger", cors(["preflight_max_age": .number(1.5)]), ("cors.preflight_max_age", "type")),
            ("MaxAgeWeekOK", cors(["preflight_max_age": .number(604800)]), nil),
            ("CredentialsType", cors(["allow_credentials": .string("true")]), ("cors.allow_credentials", "type")),
            ("ModeEnum", cors(["mode": .string("strict")]), ("cors.mode", "enum")),
            ("VersionFormat", obj(["django": obj(["cors_headers_version": .string("latest")])]), ("django.cors_headers_version", "version")),
            ("LimitDomain", limits([limit("om ero", "soft", "nofile", .number(4096))]), ("limits[0].domain", "limits_domain")),
            ("LimitDomainGroupOK", limits([limit("@omero", "-", "nofile", .number(4096))]), nil),
            ("LimitDomainUidRangeOK", limits([limit("1000:2000", "-", "nofile", .number(4096)), limit("@500:", "soft", "core", .number(0))]), nil),
            ("LimitDomainUidRangeBackwards", limits([limit("2000:1000", "-", "nofile", .number(4096))]), ("limits[0].domain", "limits_domain")),
            ("LimitDomainWildcardOK", limits([limit("*", "soft", "core", .number(0))]), nil),
            ("LimitType", limits([limit("omero", "medium", "nofile", .number(1))]), ("limits[0].type", "limits_type")),
            ("LimitItem", limits([limit("omero", "soft", "files", .number(1))]), ("limits[0].item", "limits_item")),
            ("LimitValueNegative", limits([limit("omero", "soft", "nofile", .number(-5))]), ("limits[0].value", "limits_value")),
            ("LimitValueWord", limits([limit("omero", "soft", "nofile", .string("lots"))]), ("limits[0].value", "limits_value")),
            ("LimitUnlimitedOK", limits([limit("omero", "-", "core", .string("unlimited"))]), nil),
            ("LimitMissingField", limits([["domain": .string("omero"), "type": .string("soft"), "item": .string("nofile")]]), ("limits[0].value", "required")),
            ("SoftAboveHard", limits([limit("omero", "soft", "nofile", .number(70000)), limit("omero", "hard", "nofile", .number(65535))]), ("limits[0].value", "soft_le_hard")),
            ("DuplicateSoft", limits([limit("omero", "soft", "nofile", .number(1)), limit("omero", "-", "nofile", .number(2))]), ("limits[1]", "duplicate")),
            ("NofileAboveNrOpen", limits([limit("omero", "-", "nofile", .number(2_000_000))]), ("limits[0].value", "nr_open")),
            ("NofileAboveNrOpenAllowed", obj(["allow_above_nr_open": .bool(true), "limits": .array([.object(limit("omero", "-", "nofile", .number(2_000_000)))])]), nil),
            ("LimitInjection", limits([limit("omero\nroot", "-", "nofile", .number(1))]), ("limits[0].domain", "no_control_characters")),
            ("UnitName", units([("omero web.service", "omero-web")]), ("systemd_units[0].unit", "unit_name")),
            ("UnitTypeWithoutLimitNOFILE", units([("omero-web.timer", "omero-web")]), ("systemd_units[0].unit", "unit_type")),
            ("UnitPathTraversal", units([("../../etc/passwd.service", "omero-web")]), ("systemd_units[0].unit", "unit_name")),
            ("UnitNameAlone", obj(["systemd_units": strings(["omero-web.service"])]), ("systemd_units[0]", "type")),
            ("UnitUserRequired", obj(["systemd_units": .array([.object(["unit": .string("omero-web.service")])])]), ("systemd_units[0].user", "required")),
            ("UnitUserName", units([("omero-web.service", "@omero")]), ("systemd_units[0].user", "user_name")),
            ("UnitDuplicate", units([("a.service", "a"), ("a.service", "b")]), ("systemd_units[1].unit", "duplicate")),
            ("UnitTemplateSocketMountSwapOK", units([("omero-web@1.service", "omero-web"), ("omero-web.socket", "omero-web"), ("data.mount", "root"), ("s.swap", "root")]), nil),
            ("NofileBelow1024", limits([limit("omero", "-", "nofile", .number(512))]), ("limits[0].value", "nofile_min")),
            ("RttimeNotInDebian12", limits([limit("omero", "-", "rttime", .number(5))]), ("limits[0].item", "limits_item")),
            ("ChrootNotALimit", limits([limit("omero", "-", "chroot", .string("/srv"))]), ("limits[0].item", "limits_item")),
            ("NiceRangeOK", limits([limit("@omero", "-", "nice", .number(-20)), limit("omero", "-", "nice", .number(19))]), nil),
            ("NiceOutOfRange", limits([limit("omero", "-", "nice", .number(20))]), ("limits[0].value", "limits_value")),
            ("NiceNotUnlimited", limits([limit("omero", "-", "nice", .string("unlimited"))]), ("limits[0].value", "limits_value")),
            ("NonewprivsZeroOrOne", limits([limit("omero", "-", "nonewprivs", .number(2))]), ("limits[0].value", "limits_value")),
            ("PercentDomainForMaxloginsOK", limits([limit("%", "-", "maxlogins", .number(4)), limit("%omero", "-", "maxlogins", .number(4)), limit("%:100", "hard", "maxlogins", .number(2))]), nil),
            ("PercentDomainOnlyForMaxlogins", limits([limit("%omero", "-", "nofile", .number(4096))]), ("limits[0].domain", "limits_domain")),
            ("UidRangeOfUnicodeDigits", limits([limit("\u{0661}\u{0660}:\u{0662}\u{0660}", "-", "nofile", .number(4096))]), ("limits[0].domain", "limits_domain")),
            ("UidRangeWithCombiningMark", limits([limit("10\u{0301}:20", "-", "nofile", .number(4096))]), ("limits[0].domain", "limits_domain")),
            ("NonASCIIUser", limits([limit("omérо", "-", "nofile", .number(4096))]), ("limits[0].domain", "limits_domain")),
            ("PatternCapturingGroup", cors(["allowed_origin_patterns": strings(["https://(a|b)\\.example"])]), ("cors.allowed_origin_patterns[0]", "pattern")),
            ("UrlsRegexOK", cors(["urls_regex": .string("/ome_seadragon/")]), nil),
            ("UrlsRegexAnchorRefused", cors(["urls_regex": .string("^/api/")]), ("cors.urls_regex", "pattern")),
            ("FileOriginOK", cors(["allowed_origins": strings(["file://"])]), nil),
        ]
        for row in rows {
            switch (validate(row.patch), row.expect) {
            case (.success, nil):
                break
            case (.success, let expected?):
                XCTFail("\(row.name): accepted, expected \(expected)")
            case (.failure(let failure), nil):
                XCTFail("\(row.name): rejected \(failure.issues)")
            case (.failure(let failure), let (field, rule)?):
                XCTAssertTrue(failure.issues.contains { $0.field == field && $0.rule == rule }, "\(row.name): got \(failure.issues)")
            }
        }
    }

    func testAllErrorsAreReportedTogether() throws {
        let result = validate(.object(["name": .string("BAD"), "upstream": .string("ftp://x"), "cors": .object(["mode": .string("x")])]))
        guard case .failure(let failure) = result else { return XCTFail() }
        XCTAssertEqual(Set(failure.issues.map(\.field)), ["name", "upstream", "cors.mode"])
    }

    func testNormalisesAndDeduplicates() throws {
        let d = try validate(.object(["cors": .object([
            "allowed_origins": .array([.string("HTTPS://A.example:443"), .string("https://a.example")]),
            "allow_methods": .array([.string("get"), .string("GET")]),
            "allow_headers": .array([.string("X-Custom")]),
        ])])).get().deployment
        XCTAssertEqual(d.cors.allowedOrigins.map(\.serialized), ["https://a.example"])
        XCTAssertEqual(d.cors.allowMethods, ["GET"])
        XCTAssertEqual(d.cors.allowHeaders, ["x-custom"])
        XCTAssertEqual(d.upstream, "http://omero-web.internal:4080")
    }

    func testPathNameMustMatchBody() {
        guard case .failure(let f) = validate(.object([:]), pathName: "other") else { return XCTFail() }
        XCTAssertEqual(f.issues.first?.rule, "immutable")
        XCTAssertNoThrow(try DeploymentValidator.validate(.object(["upstream": .string("http://o")]), pathName: "from-path").get())
    }

    func testWarnings() throws {
        let w = try validate(.object([
            "upstream": .string("https://omero.example.org"),
            "cors": .object(["allow_all_origins": .bool(true), "allow_credentials": .bool(true),
                             "allowed_origins": .array([.string("null"), .string("http://viewer.example.org")])]),
        ])).get().warnings
        XCTAssertEqual(w.map(\.rule), ["allow_all_with_credentials", "null_origin", "insecure_origin"])
        XCTAssertEqual(try validate(.object([:])).get().warnings, [])
    }

    func testMergePatchFollowsRFC7396() {
        let doc: JSONValue = .object(["a": .string("b"), "c": .object(["d": .string("e"), "f": .string("g")])])
        let patch: JSONValue = .object(["a": .string("z"), "c": .object(["f": .null])])
        XCTAssertEqual(doc.merged(with: patch), .object(["a": .string("z"), "c": .object(["d": .string("e")])]))
        XCTAssertEqual(doc.merged(with: .array([.number(1)])), .array([.number(1)]))
    }
}

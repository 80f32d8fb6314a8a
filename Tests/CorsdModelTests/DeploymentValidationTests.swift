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
        XCTAssertEqual(d.upstream.serialized, "http://omero-web.internal:4080")
    }

    func testPathNameMustMatchBody() {
        guard case .failure(let f) = validate(.object([:]), pathName: "other") else { return XCTFail() }
        XCTAssertEqual(f.issues.first?.rule, .immutable)
        XCTAssertNoThrow(try DeploymentValidator.validate(.object(["upstream": .string("http://o")]), pathName: "from-path").get())
    }

    func testWarnings() throws {
        let w = try validate(.object([
            "upstream": .string("https://omero.example.org"),
            "cors": .object(["allow_all_origins": .bool(true), "allow_credentials": .bool(true),
                             "allowed_origins": .array([.string("null"), .string("http://viewer.example.org")])]),
        ])).get().warnings
        XCTAssertEqual(w.map(\.rule), [.allowAllWithCredentials, .nullOrigin, .insecureOrigin])
        XCTAssertEqual(try validate(.object([:])).get().warnings, [])
    }

    /// What GET /deployments/{name} returns (the document plus read-only members) validates
    /// to the same deployment: the round trip `corsd render --input` and `apply` rely on.
    func testReadOnlyMembersAreIgnored() throws {
        let plain = try validate(.object([:])).get().deployment
        let served = try validate(.object(["revision": .number(7), "created_at": .string("2026-01-01T00:00:00Z"),
                                           "updated_at": .string("x"), "warnings": .array([])])).get().deployment
        XCTAssertEqual(plain, served)
        let reencoded = try DeploymentValidator.validate(try JSONValue(encoding: plain)).get().deployment
        XCTAssertEqual(reencoded, plain, "a stored document validates to itself")
    }

    func testMergePatchFollowsRFC7396() {
        let doc: JSONValue = .object(["a": .string("b"), "c": .object(["d": .string("e"), "f": .string("g")])])
        let patch: JSONValue = .object(["a": .string("z"), "c": .object(["f": .null])])
        XCTAssertEqual(doc.merged(with: patch), .object(["a": .string("z"), "c": .object(["d": .string("e")])]))
        XCTAssertEqual(doc.merged(with: .array([.number(1)])), .array([.number(1)]))
    }
}

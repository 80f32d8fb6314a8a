import CORSPolicy
import XCTest

/// One row per rule of django-cors-headers (domain brief §2) in `compatible` mode, and per
/// `reject`-mode rule: request headers in, action and response headers out.
final class CORSEngineTests: XCTestCase {
    struct Row {
        var name: String
        var policy: (inout CORSSettings) -> Void = { _ in }
        var request: CORSRequest
        var action: CORSDecision.Action
        var headers: [String]
    }

    static let viewer = "https://viewer.example.org"

    static func settings(_ mode: CORSMode, _ change: (inout CORSSettings) -> Void) -> CORSSettings {
        var s = CORSSettings()
        s.mode = mode
        s.allowedOrigins = [try! Origin(parsing: viewer)]
        change(&s)
        return s
    }

    let vary = "Vary: Origin"
    let preflightLists = ["Access-Control-Allow-Headers: accept, authorization, content-type, user-agent, x-csrftoken, x-requested-with",
                          "Access-Control-Allow-Methods: DELETE, GET, OPTIONS, PATCH, POST, PUT", "Access-Control-Max-Age: 86400"]

    func run(_ rows: [Row], mode: CORSMode) {
        for row in rows {
            let decision = CORSEngine(Self.settings(mode, row.policy)).decide(row.request)
            XCTAssertEqual(decision.action, row.action, "\(mode) \(row.name): \(decision.rule)")
            XCTAssertEqual(decision.headers.map { "\($0.name.rawName): \($0.value)" }, row.headers, "\(mode) \(row.name)")
        }
    }

    func testCompatibleMode() {
        let v = Self.viewer
        run([
            Row(name: "NoOriginStillVaries", request: .init(origin: nil, method: "GET"), action: .serve, headers: [vary]),
            Row(name: "EmptyOrigin", request: .init(origin: "", method: "GET"), action: .serve, headers: [vary]),
            Row(name: "AllowedOrigin", request: .init(origin: v, method: "GET"), action: .serve, headers: [vary, "Access-Control-Allow-Origin: \(v)"]),
            Row(name: "DisallowedOriginServedWithoutHeaders", request: .init(origin: "https://evil.example", method: "GET"), action: .serve, headers: [vary]),
            Row(name: "DefaultPortIsADifferentString", request: .init(origin: v + ":443", method: "GET"), action: .serve, headers: [vary]),
            Row(name: "UnparsableOriginIsAbsent", request: .init(origin: "not an origin", method: "GET"), action: .serve, headers: [vary]),
            // django-cors-headers reads Origin with urlsplit: scheme and netloc, the rest ignored.
            Row(name: "AllowAllEchoesAnySplittableValue", policy: { $0.allowAllOrigins = true; $0.allowCredentials = true }, request: .init(origin: "https://a.example/path", method: "GET"), action: .serve,
                headers: [vary, "Access-Control-Allow-Origin: https://a.example/path", "Access-Control-Allow-Credentials: true"]),
            Row(name: "ListedOriginMatchedBySchemeAndNetloc", request: .init(origin: v + "/path?q", method: "GET"), action: .serve, headers: [vary, "Access-Control-Allow-Origin: \(v)/path?q"]),
            Row(name: "SchemeCaseIgnoredLikeUrlsplit", request: .init(origin: "HTTPS://viewer.example.org", method: "GET"), action: .serve, headers: [vary, "Access-Control-Allow-Origin: HTTPS://viewer.example.org"]),
            Row(name: "UnsplittableValueGetsNoHeaders", policy: { $0.allowAllOrigins = true }, request: .init(origin: "http://[not-ipv6]", method: "GET"), action: .serve, headers: [vary]),
            Row(name: "NullListedAllowsValuesWithoutNetloc", policy: { $0.allowedOrigins.append(.null) }, request: .init(origin: "foo", method: "GET"), action: .serve, headers: [vary, "Access-Control-Allow-Origin: foo"]),
            Row(name: "FileListed", policy: { $0.allowedOrigins.append(.file) }, request: .init(origin: "file://", method: "GET"), action: .serve, headers: [vary, "Access-Control-Allow-Origin: file://"]),
            Row(name: "TooLongNeverAllowed", policy: { $0.allowAllOrigins = true }, request: .init(origin: "https://" + String(repeating: "a", count: 3000), method: "GET"), action: .serve, headers: [vary]),
            Row(name: "NonASCIINeverAllowed", policy: { $0.allowAllOrigins = true }, request: .init(origin: "https://bücher.example", method: "GET"), action: .serve, headers: [vary]),
            Row(name: "AllowAllWithoutCredentialsIsStar", policy: { $0.allowAllOrigins = true }, request: .init(origin: "https://any.example", method: "GET"), action: .serve, headers: [vary, "Access-Control-Allow-Origin: *"]),
            Row(name: "AllowAllWithCredentialsEchoes", policy: { $0.allowAllOrigins = true; $0.allowCredentials = true }, request: .init(origin: "https://any.example", method: "GET"), action: .serve,
                headers: [vary, "Access-Control-Allow-Origin: https://any.example", "Access-Control-Allow-Credentials: true"]),
            Row(name: "AllowedCredentials", policy: { $0.allowCredentials = true }, request: .init(origin: v, method: "GET"), action: .serve,
                headers: [vary, "Access-Control-Allow-Origin: \(v)", "Access-Control-Allow-Credentials: true"]),
            Row(name: "CredentialsOnlyForAllowedOrigins", policy: { $0.allowCredentials = true }, request: .init(origin: "https://evil.example", method: "GET"), action: .serve, headers: [vary]),
            Row(name: "ExposeHeaders", policy: { $0.exposeHeaders = ["ETag", "Content-Range"] }, request: .init(origin: v, method: "GET"), action: .serve,
                headers: [vary, "Access-Control-Allow-Origin: \(v)", "Access-Control-Expose-Headers: ETag, Content-Range"]),
            Row(name: "PreflightAnsweredWithLists", request: .init(origin: v, method: "OPTIONS", requestMethod: "GET"), action: .answerPreflight,
                headers: [vary, "Access-Control-Allow-Origin: \(v)"] + preflightLists),
            Row(name: "PreflightWithEmptyRequestMethod", request: .init(origin: v, method: "OPTIONS", requestMethod: ""), action: .answerPreflight,
                headers: [vary, "Access-Control-Allow-Origin: \(v)"] + preflightLists),
            Row(name: "PreflightRequestedMethodNotChecked", request: .init(origin: v, method: "OPTIONS", requestMethod: "TRACE", requestHeaders: "x-anything"), action: .answerPreflight,
                headers: [vary, "Access-Control-Allow-Origin: \(v)"] + preflightLists),
            Row(name: "PreflightFromDisallowedOriginStill200", request: .init(origin: "https://evil.example", method: "OPTIONS", requestMethod: "GET"), action: .answerPreflight, headers: [vary]),
            Row(name: "PlainOptionsIsNotAPreflightButGetsLists", request: .init(origin: v, method: "OPTIONS"), action: .serve, headers: [vary, "Access-Control-Allow-Origin: \(v)"] + preflightLists),
            Row(name: "MaxAgeZeroOmitted", policy: { $0.preflightMaxAge = 0 }, request: .init(origin: v, method: "OPTIONS", requestMethod: "GET"), action: .answerPreflight,
                headers: [vary, "Access-Control-Allow-Origin: \(v)"] + preflightLists.dropLast()),
            Row(name: "PrivateNetworkWhenRequestedAndEnabled", policy: { $0.allowPrivateNetwork = true }, request: .init(origin: v, method: "OPTIONS", requestMethod: "GET", requestPrivateNetwork: "true"), action: .answerPreflight,
                headers: [vary, "Access-Control-Allow-Origin: \(v)"] + preflightLists + ["Access-Control-Allow-Private-Network: true"]),
            Row(name: "PrivateNetworkNotWhenDisabled", request: .init(origin: v, method: "OPTIONS", requestMethod: "GET", requestPrivateNetwork: "true"), action: .answerPreflight,
                headers: [vary, "Access-Control-Allow-Origin: \(v)"] + preflightLists),
            Row(name: "PrivateNetworkNotWhenNotRequested", policy: { $0.allowPrivateNetwork = true }, request: .init(origin: v, method: "OPTIONS", requestMethod: "GET"), action: .answerPreflight,
                headers: [vary, "Access-Control-Allow-Origin: \(v)"] + preflightLists),
            Row(name: "NullNotAllowedUnlessListed", request: .init(origin: "null", method: "GET"), action: .serve, headers: [vary]),
            Row(name: "NullListed", policy: { $0.allowedOrigins.append(.null) }, request: .init(origin: "null", method: "GET"), action: .serve, headers: [vary, "Access-Control-Allow-Origin: null"]),
            Row(name: "WildcardSubdomain", policy: { $0.allowedOriginPatterns = [try! OriginPattern(parsing: "https://*.lab.example.org")] }, request: .init(origin: "https://a.lab.example.org", method: "GET"), action: .serve,
                headers: [vary, "Access-Control-Allow-Origin: https://a.lab.example.org"]),
            Row(name: "WildcardNeverTheBareDomain", policy: { $0.allowedOriginPatterns = [try! OriginPattern(parsing: "https://*.lab.example.org")] }, request: .init(origin: "https://lab.example.org", method: "GET"), action: .serve, headers: [vary]),
            Row(name: "RegexIsAFullMatch", policy: { $0.allowedOriginPatterns = [try! OriginPattern(parsing: #"https://[a-z]+\.example\.net"#)] }, request: .init(origin: "https://a.example.net.evil.com", method: "GET"), action: .serve, headers: [vary]),
        ], mode: .compatible)
    }

    func testRejectMode() {
        let v = Self.viewer
        run([
            Row(name: "DisallowedOriginRefused", request: .init(origin: "https://evil.example", method: "GET"), action: .refuse, headers: [vary]),
            Row(name: "DisallowedPreflightRefused", request: .init(origin: "https://evil.example", method: "OPTIONS", requestMethod: "GET"), action: .refuse, headers: [vary]),
            Row(name: "NoOriginServed", request: .init(origin: nil, method: "GET"), action: .serve, headers: [vary]),
            Row(name: "UnparsableOriginServedAsAbsent", request: .init(origin: "garbage", method: "GET"), action: .serve, headers: [vary]),
            Row(name: "OnlyTheExactSerialisationCounts", request: .init(origin: v + "/path", method: "GET"), action: .serve, headers: [vary]),
            Row(name: "FileListed", policy: { $0.allowedOrigins.append(.file) }, request: .init(origin: "file://", method: "GET"), action: .serve, headers: [vary, "Access-Control-Allow-Origin: file://"]),
            Row(name: "TooLongRefused", policy: { $0.allowAllOrigins = true }, request: .init(origin: "https://" + String(repeating: "a", count: 3000), method: "GET"), action: .refuse, headers: [vary]),
            Row(name: "AllowedServed", request: .init(origin: v, method: "GET"), action: .serve, headers: [vary, "Access-Control-Allow-Origin: \(v)"]),
            Row(name: "PreflightMethodOutsidePolicy", policy: { $0.allowMethods = ["GET"] }, request: .init(origin: v, method: "OPTIONS", requestMethod: "DELETE"), action: .refuse, headers: [vary]),
            Row(name: "PreflightEmptyMethodRefused", request: .init(origin: v, method: "OPTIONS", requestMethod: ""), action: .refuse, headers: [vary]),
            Row(name: "PreflightHeaderOutsidePolicy", request: .init(origin: v, method: "OPTIONS", requestMethod: "GET", requestHeaders: "content-type, x-secret"), action: .refuse, headers: [vary]),
            Row(name: "PreflightWithinPolicy", request: .init(origin: v, method: "OPTIONS", requestMethod: "get", requestHeaders: "Content-Type, X-Requested-With"), action: .answerPreflight,
                headers: [vary, "Access-Control-Allow-Origin: \(v)"] + preflightLists),
        ], mode: .reject)
    }

    func testDecisionNamesTheRule() {
        var s = CORSSettings()
        s.allowedOrigins = [try! Origin(parsing: "https://a.example")]
        s.allowedOriginPatterns = [try! OriginPattern(parsing: "https://*.b.example")]
        let e = CORSEngine(s)
        XCTAssertEqual(e.decide(.init(origin: "https://a.example", method: "GET")).rule.description, "allowed_origins")
        XCTAssertEqual(e.decide(.init(origin: "https://x.b.example", method: "GET")).rule.description, "allowed_origin_patterns:https://*.b.example")
        XCTAssertEqual(e.decide(.init(origin: "https://c.example", method: "GET")).rule.description, "origin_not_allowed")
        XCTAssertEqual(e.decide(.init(origin: nil, method: "GET")).rule.description, "no_origin")
    }
}

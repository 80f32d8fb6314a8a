import CORSPolicy
import XCTest

final class OriginTests: XCTestCase {
    func testNormalisation() throws {
        let rows: [(input: String, serialized: String)] = [
            ("https://viewer.example.org", "https://viewer.example.org"),
            ("HTTPS://Viewer.Example.ORG", "https://viewer.example.org"),
            ("https://viewer.example.org:443", "https://viewer.example.org"),
            ("http://viewer.example.org:80", "http://viewer.example.org"),
            ("http://viewer.example.org:8080", "http://viewer.example.org:8080"),
            ("https://viewer.example.org/", "https://viewer.example.org"),
            ("https://bücher.example", "https://xn--bcher-kva.example"),
            ("https://例え.jp", "https://xn--r8jz45g.jp"),
            ("http://[::1]:8000", "http://[::1]:8000"),
            ("http://127.0.0.1:4080", "http://127.0.0.1:4080"),
            ("null", "null"),
        ]
        for row in rows {
            XCTAssertEqual(try Origin(parsing: row.input).serialized, row.serialized, row.input)
        }
    }

    func testRejections() {
        let rows: [(input: String, error: Origin.ParseError)] = [
            ("viewer.example.org", .missingScheme),
            ("viewer.example.org:8080", .missingScheme),
            ("1http://a.example", .invalidScheme),
            ("https://", .missingHost),
            ("https://a.example/path", .hasPathQueryOrFragment),
            ("https://a.example?q", .hasPathQueryOrFragment),
            ("https://a.example#f", .hasPathQueryOrFragment),
            ("https://user:pw@a.example", .hasCredentials),
            ("https://a.example:0", .invalidPort),
            ("https://a.example:65536", .invalidPort),
            ("https://a.example:", .invalidPort),
            ("https://a..example", .invalidHost),
            ("https://a example", .invalidHost),
            ("https://-a.example", .invalidHost),
            ("https://a.example'); import os; #", .hasPathQueryOrFragment),
            ("https://a.example\n", .invalidHost),
        ]
        for row in rows {
            XCTAssertThrowsError(try Origin(parsing: row.input), row.input) { error in
                XCTAssertEqual(error as? Origin.ParseError, row.error, row.input)
            }
        }
    }

    func testStrictModeRefusesTrailingSlash() {
        XCTAssertThrowsError(try Origin(parsing: "https://a.example/", lenient: false))
    }

    func testWildcardPatterns() throws {
        let pattern = try OriginPattern(parsing: "https://*.Example.org")
        XCTAssertEqual(pattern.source, "https://*.example.org")
        let rows: [(origin: String, matches: Bool)] = [
            ("https://a.example.org", true),
            ("https://a.b.example.org", true),
            ("https://example.org", false),  // never the bare domain
            ("http://a.example.org", false),  // scheme must match
            ("https://a.example.org:8443", false),  // port must match
            ("https://aexample.org", false),
            ("https://a.example.org.evil.com", false),
        ]
        for row in rows {
            XCTAssertEqual(pattern.matches(try Origin(parsing: row.origin)), row.matches, row.origin)
        }
    }

    /// A wildcard is a pattern in the subset: `*.` is a label character followed by label
    /// characters and dots, so it never reaches past the host or into another domain.
    func testWildcardIsASubsetPattern() throws {
        let pattern = try OriginPattern(parsing: "https://*.lab.example.org:8443")
        XCTAssertEqual(pattern.regex.source, #"https://[a-z0-9_-][a-z0-9_.-]*\.lab\.example\.org:8443"#)
        let rows: [(String, Bool)] = [
            ("https://a.lab.example.org:8443", true), ("https://a.b.lab.example.org:8443", true), ("https://x-1.lab.example.org:8443", true),
            ("https://lab.example.org:8443", false), ("https://a.lab.example.org", false), ("http://a.lab.example.org:8443", false),
            ("https://.lab.example.org:8443", false), ("https://A.lab.example.org:8443", false), ("https://a/b.lab.example.org:8443", false),
            ("https://a.lab.example.org:84430", false), ("https://evil.example/.lab.example.org:8443", false), ("https://a:b@c.lab.example.org:8443", false),
        ]
        for (text, expected) in rows { XCTAssertEqual(pattern.matches(serialized: text), expected, text) }
    }

    func testRegexPatternsMatchTheWholeOrigin() throws {
        // Unlike Python's re.match, which anchors only the start.
        let pattern = try OriginPattern(parsing: #"https://[a-z]+\.example\.org"#)
        XCTAssertTrue(pattern.matches(try Origin(parsing: "https://viewer.example.org")))
        XCTAssertFalse(pattern.matches(try Origin(parsing: "https://viewer.example.org.evil.com")))
    }

    func testInvalidPatterns() {
        for text in ["", "https://*.", "https://*.a b", "(?:unclosed", "https://*.example.org/path"] {
            XCTAssertThrowsError(try OriginPattern(parsing: text), text)
        }
    }
}

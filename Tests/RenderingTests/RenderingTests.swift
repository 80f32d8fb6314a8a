import CORSPolicy
import CorsdModel
import Foundation
import XCTest

@testable import Rendering

func deployment(_ patch: JSONValue) -> Deployment {
    let base: JSONValue = .object(["name": .string("omero-prod"), "upstream": .string("http://omero-web.internal:4080")])
    return try! DeploymentValidator.validate(base.merged(with: patch)).get().deployment
}

func strings(_ s: [String]) -> JSONValue { .array(s.map(JSONValue.string)) }

/// The seed's example: CORS_ORIGIN_ALLOW_ALL = False, one whitelisted domain with a port,
/// omero nofile 65535 soft and hard.
let seed = deployment(.object([
    "cors": .object(["allowed_origins": strings(["http://viewer.example.org:8080"])]),
    "django": .object(["cors_headers_version": .string("2.5.3")]),
    "systemd_units": strings(["omero-web.service", "omero-server.service"]),
]))

let modern = deployment(.object([
    "cors": .object([
        "allowed_origins": strings(["https://viewer.example.org", "https://tiles.example.org:8443"]),
        "allowed_origin_patterns": strings(["https://*.lab.example.org", #"https://[a-z]+\.example\.net"#]),
        "expose_headers": strings(["ETag"]), "allow_credentials": .bool(true), "preflight_max_age": .number(600),
        "allow_private_network": .bool(true),
    ]),
    "django": .object(["cors_headers_version": .string("4.9.0")]),
    "limits": .array([
        .object(["domain": .string("omero-web"), "type": .string("soft"), "item": .string("nofile"), "value": .number(16384)]),
        .object(["domain": .string("omero-web"), "type": .string("hard"), "item": .string("nofile"), "value": .number(65535)]),
        .object(["domain": .string("@omero"), "type": .string("-"), "item": .string("core"), .init(stringLiteral: "value"): .string("unlimited")]),
    ]),
    "systemd_units": strings(["omero-web.service"]),
]))

extension JSONValue: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
}

final class RenderingTests: XCTestCase {
    func testDialectFollowsTheVersion() {
        let rows: [(String, SettingsDialect)] = [("2.5.3", .legacy), ("2.99", .legacy), ("3.0", .scheme), ("3.4.2", .scheme), ("3.5.0", .modern), ("3.7.0", .modern), ("4.9.0", .modern)]
        for (version, dialect) in rows { XCTAssertEqual(SettingsDialect(version: .init(version)), dialect, version) }
    }

    func testSettingsNamesAndWhitelistFormPerDialect() throws {
        let rows: [(dialect: SettingsDialect, expected: [String], absent: [String])] = [
            (.legacy, ["CORS_ORIGIN_ALLOW_ALL = False", "CORS_ORIGIN_WHITELIST = ('viewer.example.org:8080',)"], ["CORS_ALLOWED_ORIGINS", "CORS_ALLOW_PRIVATE_NETWORK"]),
            (.scheme, ["CORS_ORIGIN_ALLOW_ALL = False", "CORS_ORIGIN_WHITELIST = ('http://viewer.example.org:8080',)"], ["CORS_ALLOWED_ORIGINS"]),
            (.modern, ["CORS_ALLOW_ALL_ORIGINS = False", "CORS_ALLOWED_ORIGINS = ('http://viewer.example.org:8080',)", "CORS_ALLOWED_ORIGIN_REGEXES = ()"], ["CORS_ORIGIN_WHITELIST"]),
        ]
        for row in rows {
            let text = try SettingsPyRenderer.render(RenderInput(deployment: seed, revision: 3), dialect: row.dialect).text
            for line in row.expected { XCTAssertTrue(text.contains("\n" + line + "\n"), "\(row.dialect): \(line)") }
            for name in row.absent { XCTAssertFalse(text.contains(name), "\(row.dialect): \(name)") }
        }
    }

    func testModernSettingsCarryEveryField() throws {
        let text = try SettingsPyRenderer.render(RenderInput(deployment: modern, revision: 1)).text
        for line in [
            "CORS_ALLOWED_ORIGINS = ('https://viewer.example.org', 'https://tiles.example.org:8443')",
            #"CORS_ALLOWED_ORIGIN_REGEXES = ('^https://(?:[a-z0-9_-]+\\.)+lab\\.example\\.org\\Z', '^(?:https://[a-z]+\\.example\\.net)\\Z')"#,
            "CORS_EXPOSE_HEADERS = ('ETag',)",
            "CORS_ALLOW_CREDENTIALS = True",
            "CORS_PREFLIGHT_MAX_AGE = 600",
            "CORS_ALLOW_PRIVATE_NETWORK = True",
        ] {
            XCTAssertTrue(text.contains("\n" + line + "\n"), line)
        }
    }

    func testLegacyDialectRefusesTwoSchemesForOneHost() {
        let d = deployment(.object(["cors": .object(["allowed_origins": strings(["http://a.example", "https://a.example:80"])]),
                                     "django": .object(["cors_headers_version": .string("2.0.0")])]))
        XCTAssertNoThrow(try SettingsPyRenderer.render(RenderInput(deployment: d, revision: 1)), "https on port 80 is a different host:port")
        let clash = deployment(.object(["cors": .object(["allowed_origins": strings(["http://a.example", "https://a.example"])]),
                                         "django": .object(["cors_headers_version": .string("2.0.0")])]))
        XCTAssertThrowsError(try SettingsPyRenderer.render(RenderInput(deployment: clash, revision: 1))) { error in
            XCTAssertEqual((error as? RenderError)?.field, "cors.allowed_origins[1]")
            XCTAssertEqual((error as? RenderError)?.rule, "legacy_dialect")
        }
        XCTAssertNoThrow(try SettingsPyRenderer.render(RenderInput(deployment: clash, revision: 1), dialect: .modern))
    }

    func testHeaderNamesDeploymentRevisionAndBodyHash() throws {
        let r = try SettingsPyRenderer.render(RenderInput(deployment: seed, revision: 7))
        let lines = r.text.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertTrue(lines[0].contains("Generated by corsd. Do not edit by hand"))
        XCTAssertTrue(lines[1].hasPrefix("# deployment: omero-prod  revision: 7  sha256: "))
        let bodyStart = r.text.range(of: "\n\ndef ")!.lowerBound
        let body = String(r.text[r.text.index(after: bodyStart)...])
        XCTAssertTrue(lines[1].hasSuffix(Rendered.sha256(body)))
    }

    func testOmeroConfigScript() throws {
        let old = try OmeroConfigRenderer.render(RenderInput(deployment: seed, revision: 1)).text
        XCTAssertTrue(old.hasPrefix("#!/bin/sh\n"))
        XCTAssertTrue(old.contains("set -eu"))
        XCTAssertTrue(old.contains("CorsPostCsrfMiddleware"), "kept for django-cors-headers < 4.0")
        XCTAssertTrue(old.contains(#"config set omero.web.cors_origin_whitelist '["viewer.example.org:8080"]'"#))
        XCTAssertFalse(old.contains("config append"), "append is not idempotent")
        let new = try OmeroConfigRenderer.render(RenderInput(deployment: modern, revision: 1)).text
        XCTAssertFalse(new.contains("CorsPostCsrfMiddleware"), "removed in 4.0")
        XCTAssertTrue(new.contains(#"'["https://viewer.example.org", "https://tiles.example.org:8443"]'"#))
    }

    func testLimitsConfIsAlignedOneEntryPerLine() {
        let text = LimitsConfRenderer.render(RenderInput(deployment: modern, revision: 1)).text
        let entries = text.split(separator: "\n").filter { !$0.hasPrefix("#") }
        XCTAssertEqual(entries.map { $0.split(separator: " ").map(String.init) }, [
            ["omero-web", "soft", "nofile", "16384"], ["omero-web", "hard", "nofile", "65535"], ["@omero", "-", "core", "unlimited"],
        ])
        let itemColumn = entries.map { $0.prefixMatch(of: /\S+\s+\S+\s+/)!.output.count }
        XCTAssertEqual(Set(itemColumn).count, 1, "the item column is aligned")
        XCTAssertTrue(text.contains("PAM login sessions only"))
    }

    func testSystemdDropIn() throws {
        let text = try SystemdDropInRenderer.render(RenderInput(deployment: modern, revision: 1), unit: "omero-web.service").text
        XCTAssertTrue(text.hasSuffix("[Service]\nLimitNOFILE=16384:65535\n"))
        XCTAssertTrue(text.contains("/etc/systemd/system/omero-web.service.d/corsd-limits.conf"))
        XCTAssertTrue(text.contains("systemctl daemon-reload && systemctl restart omero-web.service"))
        XCTAssertThrowsError(try SystemdDropInRenderer.render(RenderInput(deployment: modern, revision: 1), unit: "other.service"))
        let noNofile = deployment(.object(["limits": .array([]), "systemd_units": strings(["a.service"])]))
        XCTAssertThrowsError(try SystemdDropInRenderer.render(RenderInput(deployment: noNofile, revision: 1), unit: "a.service")) {
            XCTAssertEqual(($0 as? RenderError)?.rule, "nofile_required")
        }
        let unlimited = deployment(.object(["limits": .array([.object(["domain": "*", "type": "-", "item": "nofile", "value": "unlimited"])]), "systemd_units": strings(["a.service"])]))
        XCTAssertTrue(try SystemdDropInRenderer.render(RenderInput(deployment: unlimited, revision: 1), unit: "a.service").text.hasSuffix("LimitNOFILE=infinity:infinity\n"))
    }

    /// Golden files, reviewed by eye once: set CORSD_UPDATE_GOLDEN=1 to rewrite them.
    func testGoldenFiles() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")
        let cases: [(String, Deployment, RenderFormat)] = [
            ("seed.settings.py", seed, .settingsPy), ("seed.omero-web-config.sh", seed, .omeroConfig),
            ("seed.limits.conf", seed, .limitsConf), ("seed.omero-web.service.conf", seed, .systemd(unit: "omero-web.service")),
            ("modern.settings.py", modern, .settingsPy), ("modern.omero-web-config.sh", modern, .omeroConfig),
            ("modern.limits.conf", modern, .limitsConf), ("modern.omero-web.service.conf", modern, .systemd(unit: "omero-web.service")),
        ]
        for (file, d, format) in cases {
            let text = try format.render(RenderInput(deployment: d, revision: 1)).text
            let url = dir.appendingPathComponent(file)
            if ProcessInfo.processInfo.environment["CORSD_UPDATE_GOLDEN"] == "1" {
                try text.write(to: url, atomically: true, encoding: .utf8)
            }
            XCTAssertEqual(text, try String(contentsOf: url, encoding: .utf8), file)
        }
    }

    /// Even a value that bypassed validation cannot change the program: for random strings
    /// (quotes, backslashes, newlines, U+2028, NUL, astral characters), Python parses the
    /// rendered literal back to exactly the input, and the literal is one ASCII line.
    func testPythonLiteralsRoundTripThroughPythonsParser() throws {
        var rng = SystemRandomNumberGenerator()
        let alphabet: [Unicode.Scalar] = ["'", "\"", "\\", "\n", "\r", "\t", "\u{0}", "\u{7f}", "\u{85}", "\u{2028}", "\u{2029}", "#", "$", "(", ")", ";", "`", "a", "é", "\u{FF07}", "😀", " ", "\u{1B}"]
        var inputs = ["'); import os; #", "\\'", "$(reboot)", "`id`", "\u{2028}import os"]
        for _ in 0..<300 {
            inputs.append(String(String.UnicodeScalarView((0..<Int.random(in: 0...12, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })))
        }
        let literals = inputs.map(Quoting.python)
        for literal in literals {
            XCTAssertFalse(literal.contains("\n"))
            XCTAssertTrue(literal.unicodeScalars.allSatisfy { (" "..."~").contains($0) })
        }
        let program = "import ast, json, sys\nliterals = json.load(sys.stdin)\nprint(json.dumps([ast.literal_eval(l) for l in literals]))\n"
        let output = try runPython(program, stdin: try JSONEncoder().encode(literals))
        let parsed = try JSONDecoder().decode([String].self, from: output)
        XCTAssertEqual(parsed, inputs)
    }
}

/// Runs python3 (always on this machine kind; a missing one fails the test).
func runPython(_ program: String, stdin: Data) throws -> Data {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", program]
    let input = Pipe(), output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    try process.run()
    input.fileHandleForWriting.write(stdin)
    try input.fileHandleForWriting.close()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw NSError(domain: "python3", code: Int(process.terminationStatus)) }
    return data
}

import CORSPolicy
import CorsdModel
import Foundation
import TestSupport
import XCTest

@testable import Rendering

func deployment(_ patch: JSONValue) -> Deployment {
    let base: JSONValue = .object(["name": .string("omero-prod"), "upstream": .string("http://omero-web.internal:4080")])
    return try! DeploymentValidator.validate(base.merged(with: patch)).get().deployment
}

func strings(_ s: [String]) -> JSONValue { .array(s.map(JSONValue.string)) }

func units(_ pairs: [(String, String)]) -> JSONValue {
    .array(pairs.map { JSONValue.object(["unit": .string($0.0), "user": .string($0.1)]) })
}

/// The seed's example: CORS_ORIGIN_ALLOW_ALL = False, one whitelisted domain with a port,
/// nofile 65535 soft and hard (for omero-web, corsd's default user).
let seed = deployment(.object([
    "cors": .object(["allowed_origins": strings(["http://viewer.example.org:8080"])]),
    "django": .object(["cors_headers_version": .string("2.5.3")]),
    "systemd_units": units([("omero-web.service", "omero-web"), ("omero-server.service", "omero-server")]),
]))

/// OMERO.web as OME ships it: django-cors-headers 3.7.0, credentials, a pattern.
let omeroPin = deployment(.object([
    "cors": .object([
        "allowed_origins": strings(["https://viewer.example.org", "file://"]),
        "allowed_origin_patterns": strings(["https://*.lab.example.org"]),
        "allow_credentials": .bool(true),
    ]),
    "limits": .array([
        .object(["domain": "omero-web", "type": "-", "item": "nofile", "value": .number(16384)]),
        .object(["domain": "omero-server", "type": "soft", "item": "nofile", "value": .number(8192)]),
        .object(["domain": "omero-server", "type": "hard", "item": "nofile", "value": .number(65535)]),
    ]),
    "systemd_units": units([("omero-web.service", "omero-web"), ("omero-server.service", "omero-server"), ("omero-web.socket", "omero-web")]),
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
    "systemd_units": units([("omero-web.service", "omero-web")]),
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
            let text = try SettingsPyRenderer.render(RenderInput(deployment: seed), dialect: row.dialect).text
            for line in row.expected { XCTAssertTrue(text.contains("\n" + line + "\n"), "\(row.dialect): \(line)") }
            for name in row.absent { XCTAssertFalse(text.contains("\n" + name + " = "), "\(row.dialect): \(name)") }
        }
    }

    func testModernSettingsCarryEveryField() throws {
        let text = try SettingsPyRenderer.render(RenderInput(deployment: modern)).text
        for line in [
            "CORS_ALLOWED_ORIGINS = ('https://viewer.example.org', 'https://tiles.example.org:8443')",
            #"CORS_ALLOWED_ORIGIN_REGEXES = ('(?a)^(?:https://[a-z0-9_-][a-z0-9_.-]*\\.lab\\.example\\.org)\\Z', '(?a)^(?:https://[a-z]+\\.example\\.net)\\Z')"#,
            #"CORS_URLS_REGEX = '(?a)(?:/(?:ome_seadragon/(?:deepzoom|mirax|arrays)/|webgateway/(?:render_image_region|render_image_region_rdef|render_thumbnail|render_birds_eye_view|render_image|render_image_rdef|imgData)/))'"#,
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
        XCTAssertNoThrow(try SettingsPyRenderer.render(RenderInput(deployment: d)), "https on port 80 is a different host:port")
        let clash = deployment(.object(["cors": .object(["allowed_origins": strings(["http://a.example", "https://a.example"])]),
                                         "django": .object(["cors_headers_version": .string("2.0.0")])]))
        XCTAssertThrowsError(try SettingsPyRenderer.render(RenderInput(deployment: clash))) { error in
            XCTAssertEqual((error as? FieldIssue)?.field, "cors.allowed_origins[1]")
            XCTAssertEqual((error as? FieldIssue)?.rule, .legacyDialect)
        }
        XCTAssertNoThrow(try SettingsPyRenderer.render(RenderInput(deployment: clash), dialect: .modern))
    }

    func testHeaderNamesDeploymentRevisionAndBodyHash() throws {
        let r = try SettingsPyRenderer.render(RenderInput(deployment: seed))
        let lines = r.text.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertTrue(lines[0].contains("Generated by corsd. Do not edit by hand"))
        XCTAssertTrue(lines[1].hasPrefix("# deployment: omero-prod  sha256: "))
        let bodyStart = r.text.range(of: "\n\ndef ")!.lowerBound
        let body = String(r.text[r.text.index(after: bodyStart)...])
        XCTAssertTrue(lines[1].hasSuffix(Rendered.sha256(body)))
    }

    func testOmeroConfigScriptAppendsWithSetAndMergesAdditionalSettings() throws {
        let text = try OmeroConfigScriptRenderer.render(RenderInput(deployment: omeroPin)).text
        XCTAssertTrue(text.hasPrefix("#!/bin/sh\n"))
        XCTAssertTrue(text.contains("set -eu"))
        XCTAssertTrue(text.contains(#"config append --set omero.web.apps '"corsheaders"'"#))
        XCTAssertTrue(text.contains(#"config append --set omero.web.middleware '{"index": 0.5, "class": "corsheaders.middleware.CorsMiddleware"}'"#))
        XCTAssertTrue(text.contains(#"config append --set omero.web.middleware '{"index": 10, "class": "corsheaders.middleware.CorsPostCsrfMiddleware"}'"#))
        XCTAssertFalse(text.contains("config set omero.web.middleware"), "setting the list would drop OMERO.web's defaults")
        XCTAssertTrue(text.contains(#"config set omero.web.cors_origin_whitelist '["https://viewer.example.org", "file://"]'"#))
        XCTAssertTrue(text.contains(#"["CORS_ALLOW_CREDENTIALS", true]"#))
        XCTAssertTrue(text.contains(#"["CORS_ALLOWED_ORIGIN_REGEXES", ["(?a)^(?:https://[a-z0-9_-][a-z0-9_.-]*\\.lab\\.example\\.org)\\Z"]]"#))
        XCTAssertTrue(text.contains("config set omero.web.django_additional_settings \"$merged\""))
    }

    /// What a format cannot express is refused with the field named, never dropped.
    func testInexpressiblePoliciesAreRefused() {
        let rows: [(String, Deployment, RenderFormat, field: String, rule: String)] = [
            ("4.x script", modern, .omeroConfig, "django.cors_headers_version", "omero_config_4x"),
            ("4.x .omero", modern, .omeroLoadFile, "django.cors_headers_version", "omero_config_4x"),
            ("4.x env", modern, .omeroEnvFile, "django.cors_headers_version", "omero_config_4x"),
            ("private network on 3.x", deployment(.object(["cors": .object(["allow_private_network": .bool(true)])])), .settingsPy, "cors.allow_private_network", "unsupported_by_version"),
            ("file:// in legacy", deployment(.object(["cors": .object(["allowed_origins": strings(["file://"])]), "django": .object(["cors_headers_version": "2.5.3"])])), .settingsPy, "cors.allowed_origins[0]", "legacy_dialect"),
        ]
        for row in rows {
            XCTAssertThrowsError(try row.2.render(RenderInput(deployment: row.1)), row.0) { error in
                XCTAssertEqual((error as? FieldIssue)?.field, row.field, row.0)
                XCTAssertEqual((error as? FieldIssue)?.rule.rawValue, row.rule, row.0)
            }
        }
    }

    func testSettingsFragmentPerMajorVersion() throws {
        let v3 = try SettingsPyRenderer.render(RenderInput(deployment: omeroPin)).text
        XCTAssertTrue(v3.contains("_corsd_placed(_corsd_value, 'corsheaders.middleware.CorsPostCsrfMiddleware', None)"))
        XCTAssertFalse(v3.contains("CORS_REPLACE_HTTPS_REFERER"))
        XCTAssertTrue(v3.contains("globals().pop('CORS_ORIGIN_WHITELIST', None)"), "3.7 reads the modern names; the legacy spelling is removed")
        let v4 = try SettingsPyRenderer.render(RenderInput(deployment: modern)).text
        XCTAssertTrue(v4.contains("globals().pop('CORS_REPLACE_HTTPS_REFERER', None)"))
        XCTAssertTrue(v4.contains("x != 'corsheaders.middleware.CorsPostCsrfMiddleware'"))
    }

    func testContainerRenders() throws {
        let input = RenderInput(deployment: omeroPin)
        let omero = try OmeroLoadFileRenderer.render(input).text
        XCTAssertTrue(omero.contains("\nconfig append --set omero.web.apps '\"corsheaders\"'\n"))
        let env = try OmeroEnvFileRenderer.render(input).text
        XCTAssertTrue(env.contains("\nCONFIG_omero_web_django__additional__settings=[[\"CORS_ALLOW_CREDENTIALS\", true]"))
        XCTAssertTrue(env.contains(#"CONFIG_omero_web_middleware=[{"index": 1, "class": "django.middleware.common.BrokenLinkEmailsMiddleware"}"#), "list keys carry the whole list")
        XCTAssertEqual(OmeroEnvFileRenderer.variable("omero.web.public.url_filter"), "CONFIG_omero_web_public_url__filter")
        let compose = try ComposeRenderer.render(input).text
        XCTAssertTrue(compose.hasSuffix("services:\n  omero-web:\n    ulimits:\n      nofile:\n        soft: 16384\n        hard: 16384\n"))
        XCTAssertTrue(try SupervisordRenderer.render(input).text.hasSuffix("[supervisord]\nminfds=16384\n"))
    }

    func testLimitsConfIsAlignedOneEntryPerLine() {
        let text = LimitsConfRenderer.render(RenderInput(deployment: modern)).text
        let entries = text.split(separator: "\n").filter { !$0.hasPrefix("#") }
        XCTAssertEqual(entries.map { $0.split(separator: " ").map(String.init) }, [
            ["omero-web", "soft", "nofile", "16384"], ["omero-web", "hard", "nofile", "65535"], ["@omero", "-", "core", "unlimited"],
        ])
        let itemColumn = entries.map { $0.prefixMatch(of: /\S+\s+\S+\s+/)!.output.count }
        XCTAssertEqual(Set(itemColumn).count, 1, "the item column is aligned")
        XCTAssertTrue(text.contains("PAM login sessions only"))
    }

    func testSystemdDropInTakesTheUnitsUserAndSection() throws {
        let input = RenderInput(deployment: omeroPin)
        let web = try SystemdDropInRenderer.render(input, unit: "omero-web.service").text
        XCTAssertTrue(web.hasSuffix("[Service]\nLimitNOFILE=16384:16384\n"))
        XCTAssertTrue(web.contains("/etc/systemd/system/omero-web.service.d/corsd-limits.conf"))
        XCTAssertTrue(web.contains("systemctl daemon-reload && systemctl restart omero-web.service"))
        XCTAssertTrue(try SystemdDropInRenderer.render(input, unit: "omero-server.service").text.hasSuffix("[Service]\nLimitNOFILE=8192:65535\n"))
        XCTAssertTrue(try SystemdDropInRenderer.render(input, unit: "omero-web.socket").text.hasSuffix("[Socket]\nLimitNOFILE=16384:16384\n"))
        XCTAssertThrowsError(try SystemdDropInRenderer.render(input, unit: "other.service"))
        let noNofile = deployment(.object(["limits": .array([]), "systemd_units": units([("a.service", "a")])]))
        XCTAssertThrowsError(try SystemdDropInRenderer.render(RenderInput(deployment: noNofile), unit: "a.service")) {
            XCTAssertEqual(($0 as? FieldIssue)?.rule, .nofileRequired)
        }
        let unlimited = deployment(.object(["limits": .array([.object(["domain": "*", "type": "-", "item": "nofile", "value": "unlimited"])]), "systemd_units": units([("a.service", "a")])]))
        XCTAssertTrue(try SystemdDropInRenderer.render(RenderInput(deployment: unlimited), unit: "a.service").text.hasSuffix("LimitNOFILE=infinity:infinity\n"), "falls back to *")
    }

    /// Golden files, reviewed by eye once: set CORSD_UPDATE_GOLDEN=1 to rewrite them.
    func testGoldenFiles() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")
        let cases: [(String, Deployment, RenderFormat)] = [
            ("seed.settings.py", seed, .settingsPy), ("seed.omero-web-config.sh", seed, .omeroConfig),
            ("seed.limits.conf", seed, .limitsConf), ("seed.omero-web.service.conf", seed, .systemd(unit: "omero-web.service")),
            ("modern.settings.py", modern, .settingsPy),
            ("modern.limits.conf", modern, .limitsConf), ("modern.omero-web.service.conf", modern, .systemd(unit: "omero-web.service")),
            ("omero-pin.settings.py", omeroPin, .settingsPy), ("omero-pin.omero-web-config.sh", omeroPin, .omeroConfig),
            ("omero-pin.omero-web.omero", omeroPin, .omeroLoadFile), ("omero-pin.omero-web.env", omeroPin, .omeroEnvFile),
            ("omero-pin.docker-compose.yml", omeroPin, .compose), ("omero-pin.supervisord.conf", omeroPin, .supervisord),
            ("omero-pin.omero-web.socket.conf", omeroPin, .systemd(unit: "omero-web.socket")),
        ]
        for (file, d, format) in cases {
            let text = try format.render(RenderInput(deployment: d)).text
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

/// Unified diffs are checked against the real `patch`: applying the diff to the old text must
/// give the new one, for random edits.
final class UnifiedDiffTests: XCTestCase {
    func testPatchAppliesEveryDiff() throws {
        var rng = SplitMix64(seed: 7)
        let dir = NSTemporaryDirectory() + "corsd-diff-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for round in 0..<40 {
            let old = (0..<Int(rng.next() % 30)).map { _ in "line \(rng.next() % 8)" }
            var new = old
            for _ in 0..<Int(rng.next() % 6) {
                switch rng.next() % 3 {
                case 0 where !new.isEmpty: new.remove(at: Int(rng.next() % UInt64(new.count)))
                case 1: new.insert("new \(rng.next() % 5)", at: new.isEmpty ? 0 : Int(rng.next() % UInt64(new.count + 1)))
                default: if !new.isEmpty { new[Int(rng.next() % UInt64(new.count))] = "changed" }
                }
            }
            let a = old.map { $0 + "\n" }.joined(), b = new.map { $0 + "\n" }.joined()
            let diff = UnifiedDiff.make(from: a, to: b, oldLabel: "a", newLabel: "b")
            XCTAssertEqual(diff.isEmpty, a == b, "round \(round)")
            guard !diff.isEmpty else { continue }
            try a.write(toFile: dir + "/f", atomically: true, encoding: .utf8)
            try diff.write(toFile: dir + "/d", atomically: true, encoding: .utf8)
            let p = try runTool("/usr/bin/patch", ["-s", dir + "/f", dir + "/d"])
            XCTAssertEqual(p, 0, "round \(round):\n\(diff)")
            XCTAssertEqual(try String(contentsOfFile: dir + "/f", encoding: .utf8), b, "round \(round):\n\(diff)")
        }
    }

    private func runTool(_ path: String, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}

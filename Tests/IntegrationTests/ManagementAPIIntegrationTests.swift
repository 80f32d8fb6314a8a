import Foundation
import TestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Every route of /api/v1 through the real binary.
final class ManagementAPIIntegrationTests: XCTestCase {
    private var corsd: CorsdProcess!
    private var api: APIClient!
    static let admin = "test-admin-secret"

    override func setUpWithError() throws {
        corsd = try CorsdProcess(environment: ["CORSD_ADMIN_TOKEN": Self.admin], debugRoutes: false)
        api = APIClient(port: corsd.port, token: Self.admin)
    }

    override func tearDown() { corsd.stop() }

    private let seed = #"{"name":"omero-prod","upstream":"http://omero-web.internal:4080","cors":{"allowed_origins":["https://viewer.example.org:443"]}}"#

    /// The wiring of the real binary: routes, auth and the database behind them (the route
    /// behaviours themselves are tested in process, in ManagementAPITests).
    func testCreateReadPatchDeleteThroughTheBinary() throws {
        let created = try api.call("POST", "/api/v1/deployments", json: seed)
        XCTAssertEqual(created.status, 201, created.text)
        XCTAssertEqual(created.field("etag"), "\"1\"")
        XCTAssertEqual(try api.call("GET", "/api/v1/deployments/omero-prod", headers: ["If-None-Match": "\"1\""]).status, 304)
        let patch = try api.call("PATCH", "/api/v1/deployments/omero-prod", json: #"{"description":"prod"}"#, contentType: "application/merge-patch+json", headers: ["If-Match": "\"1\""])
        XCTAssertEqual(patch.status, 200, patch.text)
        XCTAssertEqual(patch.json["revision"] as? Int, 2)
        XCTAssertEqual(try api.call("GET", "/api/v1/deployments/omero-prod", token: .some(nil)).status, 401)
        XCTAssertEqual(try api.call("DELETE", "/api/v1/deployments/omero-prod").status, 204)
        XCTAssertEqual(try api.call("GET", "/api/v1/deployments/omero-prod").status, 404)
    }

    /// Errors the HTTP layer answers before any route (400, 405, 413, 431) are problem+json too.
    func testErrorsFromTheHTTPLayerAreProblems() throws {
        let rows: [(name: String, request: [UInt8], status: Int, rule: String?)] = [
            ("bad header line", Array("GET /api/v1/deployments HTTP/1.1\r\nHost: a\r\nno colon here\r\n\r\n".utf8), 400, "http_message"),
            ("body over the limit", Array("POST /api/v1/deployments HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\n".utf8), 413, "body_too_large"),
            ("too many header fields", Array(("GET /api/v1/deployments HTTP/1.1\r\nHost: a\r\n" + (0..<200).map { "X-F\($0): v\r\n" }.joined() + "\r\n").utf8), 431, "header_too_large"),
            ("method not allowed", Array("DELETE /api/v1/deployments HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".utf8), 405, nil),
        ]
        for row in rows {
            let socket = try RawSocket(port: corsd.port)
            try socket.send(row.request)
            let response = try socket.readResponse(method: "GET")
            XCTAssertEqual(response.status, row.status, row.name)
            XCTAssertEqual(response.field("content-type"), "application/problem+json", row.name)
            XCTAssertEqual(response.json["status"] as? Int, row.status, row.name)
            if let rule = row.rule {
                XCTAssertEqual((response.json["errors"] as? [[String: Any]])?.first?["rule"] as? String, rule, row.name)
            }
        }
    }

    /// The GitOps loop: export → edit a file → apply (exit 2, the diff printed) → apply again
    /// (exit 0) → export shows the edit; --prune deletes what the files do not name.
    func testExportEditApplyExportRoundTrip() throws {
        XCTAssertEqual(try api.call("POST", "/api/v1/deployments", json: seed).status, 201)
        XCTAssertEqual(try api.call("POST", "/api/v1/deployments", json: #"{"name":"stale","upstream":"http://o"}"#).status, 201)
        let dir = CorsdProcess.temporaryDirectory() + "/policies"
        let server = ["--server", "http://127.0.0.1:\(corsd.port)"]
        let env = ["CORSD_TOKEN": Self.admin]
        let exported = try CorsdProcess.run(["export", "--dir", dir] + server, environment: env)
        XCTAssertEqual(exported.status, 0, exported.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(), ["omero-prod.json", "stale.json"])
        let file = dir + "/omero-prod.json"
        let text = try String(contentsOfFile: file, encoding: .utf8)
        XCTAssertTrue(text.contains("\"https://viewer.example.org\""), text)
        try text.replacingOccurrences(of: "https://viewer.example.org", with: "https://atlas.example.org").write(toFile: file, atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: dir + "/stale.json")

        let dry = try CorsdProcess.run(["apply", "-f", dir, "--dry-run", "--prune"] + server, environment: env)
        XCTAssertEqual(dry.status, 2, dry.stderr)
        XCTAssertTrue(dry.stdout.contains("+      \"https://atlas.example.org\""), dry.stdout)
        XCTAssertTrue(dry.stdout.contains("- stale deleted (dry run)"), dry.stdout)
        XCTAssertEqual(try api.call("GET", "/api/v1/deployments/omero-prod").field("etag"), "\"1\"", "a dry run changes nothing")

        let applied = try CorsdProcess.run(["apply", "-f", dir, "--prune"] + server, environment: env)
        XCTAssertEqual(applied.status, 2, applied.stderr)
        XCTAssertEqual(try api.call("GET", "/api/v1/deployments/stale").status, 404)
        let again = try CorsdProcess.run(["apply", "-f", dir, "--prune"] + server, environment: env)
        XCTAssertEqual(again.status, 0, again.stdout + again.stderr)
        XCTAssertTrue(again.stdout.contains("= omero-prod unchanged"), again.stdout)

        let reexported = try CorsdProcess.run(["export"] + server, environment: env)
        XCTAssertEqual(reexported.status, 0, reexported.stderr)
        XCTAssertTrue(reexported.stdout.contains("https://atlas.example.org"), reexported.stdout)
        XCTAssertFalse(reexported.stdout.contains("\"stale\""))

        let rendered = try CorsdProcess.run(["render", "settings.py", "--input", file])
        XCTAssertEqual(rendered.status, 0, rendered.stderr)
        XCTAssertTrue(rendered.stdout.contains("'https://atlas.example.org'"))
        // What GET returns is accepted by render --input as well.
        let served = dir + "/served.json"
        try api.call("GET", "/api/v1/deployments/omero-prod").text.write(toFile: served, atomically: true, encoding: .utf8)
        XCTAssertEqual(try CorsdProcess.run(["render", "limits.conf", "--input", served]).status, 0)

        try #"{"name":"Bad Name","upstream":"http://o"}"#.write(toFile: dir + "/bad.json", atomically: true, encoding: .utf8)
        let bad = try CorsdProcess.run(["apply", "-f", dir] + server, environment: env)
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("name: must match"), bad.stderr)
        XCTAssertEqual(try CorsdProcess.run(["apply", "-f", file] + server, environment: ["CORSD_TOKEN": "wrong"]).status, 1)
    }

    func testSecretsNeverReachTheLog() throws {
        let r = try api.call("POST", "/api/v1/tokens", json: #"{"name":"ansible","scope":"read"}"#)
        let secret = try XCTUnwrap(r.json["secret"] as? String)
        XCTAssertEqual(try api.call("GET", "/api/v1/deployments", token: secret).status, 200)
        XCTAssertFalse(corsd.stderr.contains(secret), "token secrets are never logged")
        XCTAssertFalse(corsd.stderr.contains(Self.admin))
    }

    func testRenderCommandWritesAtomically() throws {
        XCTAssertEqual(try api.call("POST", "/api/v1/deployments", json: seed).status, 201)
        let out = CorsdProcess.temporaryDirectory() + "/settings-fragment.py"
        let r = try CorsdProcess.run(["render", "omero-prod", "settings.py", "--db", corsd.databasePath, "--out", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        let text = try String(contentsOfFile: out, encoding: .utf8)
        XCTAssertTrue(text.contains("CORS_ALLOWED_ORIGINS = ('https://viewer.example.org',)"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: (out as NSString).deletingLastPathComponent), ["settings-fragment.py"], "no temporary file left")
        let missing = try CorsdProcess.run(["render", "nope", "limits.conf", "--db", corsd.databasePath])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("no deployment named 'nope'"), missing.stderr)
        XCTAssertNotEqual(try CorsdProcess.run(["render", "omero-prod", "httpd.conf", "--db", corsd.databasePath]).status, 0)
    }

    func testDataSurvivesARestart() throws {
        XCTAssertEqual(try api.call("POST", "/api/v1/deployments", json: seed).status, 201)
        corsd.stop()
        corsd = try CorsdProcess(databasePath: corsd.databasePath, environment: ["CORSD_ADMIN_TOKEN": Self.admin], debugRoutes: false)
        api = APIClient(port: corsd.port, token: Self.admin)
        let got = try api.call("GET", "/api/v1/deployments/omero-prod")
        XCTAssertEqual(got.status, 200)
        XCTAssertEqual(got.field("etag"), "\"1\"")
    }
}

final class BootstrapTokenTests: XCTestCase {
    func testFirstStartWithoutTokensPrintsOneAdminSecretOnce() throws {
        let corsd = try CorsdProcess(debugRoutes: false)
        defer { corsd.stop() }
        let secret = try XCTUnwrap(corsd.waitForStderr(/corsd_[0-9a-f]{64}/), corsd.stderr)
        let api = APIClient(port: corsd.port, token: secret)
        XCTAssertEqual(try api.call("GET", "/api/v1/tokens").status, 200)
        corsd.stop()
        let again = try CorsdProcess(databasePath: corsd.databasePath, debugRoutes: false)
        defer { again.stop() }
        XCTAssertNotNil(again.waitForStderr(/\bready\b/), "start-up finished")
        XCTAssertNil(again.stderr.firstMatch(of: /corsd_[0-9a-f]{64}/), "not printed again")
    }

    func testTokenCommandsWorkOnTheDatabase() throws {
        let db = CorsdProcess.temporaryDirectory() + "/c.sqlite"
        let refused = try CorsdProcess.run(["token", "list", "--db", db])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains("no database at \(db)"), refused.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: db), "only serve and migrate create a database")
        XCTAssertEqual(try CorsdProcess.run(["migrate", "--db", db]).status, 0)

        let created = try CorsdProcess.run(["token", "create", "--db", db, "--name", "ops", "--scope", "admin"])
        XCTAssertEqual(created.status, 0, created.stderr)
        XCTAssertNotNil(created.stdout.wholeMatch(of: /corsd_[0-9a-f]{64}\n/), "stdout is the secret alone: \(created.stdout)")
        XCTAssertTrue(created.stderr.contains("created token"), created.stderr)
        let secret = created.stdout.trimmingCharacters(in: .newlines)

        let json = try CorsdProcess.run(["token", "create", "--db", db, "--name", "ci", "--scope", "read", "--ttl", "30d", "--json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        XCTAssertEqual((object["token"] as? [String: Any])?["name"] as? String, "ci")
        XCTAssertNotNil((object["token"] as? [String: Any])?["expires_at"] as? String)
        XCTAssertNotNil((object["secret"] as? String)?.firstMatch(of: /^corsd_[0-9a-f]{64}$/))

        let badTTL = try CorsdProcess.run(["token", "create", "--db", db, "--name", "y", "--scope", "read", "--ttl", "soon"])
        XCTAssertNotEqual(badTTL.status, 0)
        XCTAssertTrue(badTTL.stderr.contains("--ttl"), badTTL.stderr)

        let list = try CorsdProcess.run(["token", "list", "--db", db])
        let rows = list.stdout.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        XCTAssertEqual(rows.first, ["ID", "NAME", "SCOPE", "CREATED", "EXPIRES", "LAST_USED"])
        let ops = try XCTUnwrap(rows.first { $0.count == 6 && $0[1] == "ops" })
        XCTAssertEqual([ops[2], ops[4], ops[5]], ["admin", "never", "never"])
        let ci = try XCTUnwrap(rows.first { $0.count == 6 && $0[1] == "ci" })
        XCTAssertNotEqual(ci[4], "never")
        XCTAssertFalse(list.stdout.contains(secret))
        let bad = try CorsdProcess.run(["token", "create", "--db", db, "--name", "x", "--scope", "root"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("scope 'root'"), bad.stderr)
        XCTAssertEqual(try CorsdProcess.run(["token", "revoke", "--db", db, ops[0]]).status, 0)
        XCTAssertNotEqual(try CorsdProcess.run(["token", "revoke", "--db", db, ops[0]]).status, 0)
        let migrate = try CorsdProcess.run(["migrate", "--db", db])
        XCTAssertEqual(migrate.status, 0)
        XCTAssertTrue(migrate.stdout.contains("up to date"))
    }
}

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

    private func createToken(_ name: String, _ scope: String) throws -> String {
        let r = try api.call("POST", "/api/v1/tokens", json: #"{"name":"\#(name)","scope":"\#(scope)"}"#)
        XCTAssertEqual(r.status, 201, r.text)
        return r.json["secret"] as! String
    }

    func testCreateReadUpdateDeleteWithETags() throws {
        let created = try api.call("POST", "/api/v1/deployments", json: seed)
        XCTAssertEqual(created.status, 201, created.text)
        XCTAssertEqual(created.field("etag"), "\"1\"")
        XCTAssertEqual(created.field("location"), "/api/v1/deployments/omero-prod")
        XCTAssertEqual((created.json["cors"] as? [String: Any])?["allowed_origins"] as? [String], ["https://viewer.example.org"])
        XCTAssertEqual(try api.call("POST", "/api/v1/deployments", json: seed).status, 409)

        let got = try api.call("GET", "/api/v1/deployments/omero-prod")
        XCTAssertEqual(got.status, 200)
        XCTAssertEqual(got.field("etag"), "\"1\"")
        XCTAssertEqual(try api.call("GET", "/api/v1/deployments/omero-prod", headers: ["If-None-Match": "\"1\""]).status, 304)

        let stale = try api.call("PUT", "/api/v1/deployments/omero-prod", json: #"{"upstream":"http://other:4080"}"#, headers: ["If-Match": "\"9\""])
        XCTAssertEqual(stale.status, 412)
        XCTAssertEqual(stale.field("etag"), "\"1\"")
        let put = try api.call("PUT", "/api/v1/deployments/omero-prod", json: #"{"upstream":"http://other:4080"}"#, headers: ["If-Match": "\"1\""])
        XCTAssertEqual(put.status, 200, put.text)
        XCTAssertEqual(put.field("etag"), "\"2\"")
        XCTAssertEqual((put.json["cors"] as? [String: Any])?["allowed_origins"] as? [String], [], "PUT replaces the whole document")

        let patch = try api.call("PATCH", "/api/v1/deployments/omero-prod", json: #"{"description":"prod","cors":{"allow_credentials":true}}"#, contentType: "application/merge-patch+json")
        XCTAssertEqual(patch.status, 200, patch.text)
        XCTAssertEqual(patch.json["description"] as? String, "prod")
        XCTAssertEqual(patch.json["upstream"] as? String, "http://other:4080")
        XCTAssertEqual(patch.json["revision"] as? Int, 3)

        XCTAssertEqual(try api.call("DELETE", "/api/v1/deployments/omero-prod", headers: ["If-Match": "\"2\""]).status, 412)
        XCTAssertEqual(try api.call("DELETE", "/api/v1/deployments/omero-prod").status, 204)
        XCTAssertEqual(try api.call("GET", "/api/v1/deployments/omero-prod").status, 404)
        XCTAssertEqual(try api.call("DELETE", "/api/v1/deployments/omero-prod").status, 404)
    }

    func testPutCreatesWhenAbsent() throws {
        let r = try api.call("PUT", "/api/v1/deployments/new-site", json: #"{"upstream":"http://o:4080"}"#)
        XCTAssertEqual(r.status, 201, r.text)
        XCTAssertEqual(r.json["name"] as? String, "new-site")
        XCTAssertEqual(try api.call("PUT", "/api/v1/deployments/x", json: #"{"name":"y","upstream":"http://o"}"#).status, 400, "rename refused")
        XCTAssertEqual(try api.call("PUT", "/api/v1/deployments/absent", json: #"{"upstream":"http://o"}"#, headers: ["If-Match": "*"]).status, 404)
    }

    func testInvalidInputIsAProblemNamingFieldAndRule() throws {
        let r = try api.call("POST", "/api/v1/deployments", json: #"{"name":"omero-prod","upstream":"http://o","description":"line1\nline2","cors":{"allowed_origins":["https://ok.example","viewer.example.org:8080"],"preflight_max_age":-1}}"#)
        XCTAssertEqual(r.status, 400)
        XCTAssertEqual(r.field("content-type"), "application/problem+json")
        let errors = (r.json["errors"] as? [[String: String]]) ?? []
        let pairs = Set(errors.map { "\($0["field"]!) \($0["rule"]!)" })
        XCTAssertEqual(pairs, ["description no_control_characters", "cors.allowed_origins[1] origin", "cors.preflight_max_age range"])
        XCTAssertEqual(try api.call("POST", "/api/v1/deployments", json: "{not json").status, 400)
        XCTAssertEqual(try api.call("POST", "/api/v1/deployments", json: seed, contentType: "text/plain").status, 415)
        XCTAssertEqual((try api.call("GET", "/api/v1/deployments").json["deployments"] as? [Any])?.count, 0, "nothing stored")
    }

    func testInjectionAttemptsAreRejectedAt400() throws {
        let attempts = [
            #"{"name":"a','b","upstream":"http://o"}"#,
            #"{"name":"ok","upstream":"http://o\"; rm -rf /"}"#,
            #"{"name":"ok","upstream":"http://o","description":"x\u2028import os"}"#,
            #"{"name":"ok","upstream":"http://o","description":"nul\u0000"}"#,
            #"{"name":"ok","upstream":"http://o","cors":{"allowed_origins":["https://a.example'); import os; #"]}}"#,
            #"{"name":"ok","upstream":"http://o","cors":{"allowed_origins":["https://$(reboot).example"]}}"#,
            #"{"name":"ok","upstream":"http://o","cors":{"allow_headers":["x-a\r\nx-b"]}}"#,
            #"{"name":"ok","upstream":"http://o","limits":[{"domain":"omero\nroot","type":"-","item":"nofile","value":1}]}"#,
            #"{"name":"ok","upstream":"http://o","systemd_units":[{"unit":"`id`.service","user":"omero-web"}]}"#,
            #"{"name":"ｏｍｅｒｏ","upstream":"http://o"}"#,
        ]
        for body in attempts {
            XCTAssertEqual(try api.call("POST", "/api/v1/deployments", json: body).status, 400, body)
        }
    }

    func testOriginsConvenienceIsIdempotent() throws {
        XCTAssertEqual(try api.call("POST", "/api/v1/deployments", json: seed).status, 201)
        let add = try api.call("POST", "/api/v1/deployments/omero-prod/origins", json: #"{"origin":"HTTP://Other.Example:80"}"#)
        XCTAssertEqual(add.status, 200, add.text)
        XCTAssertEqual((add.json["cors"] as? [String: Any])?["allowed_origins"] as? [String], ["https://viewer.example.org", "http://other.example"])
        XCTAssertEqual(add.json["revision"] as? Int, 2)
        let again = try api.call("POST", "/api/v1/deployments/omero-prod/origins", json: #"{"origin":"http://other.example"}"#)
        XCTAssertEqual(again.json["revision"] as? Int, 2, "no change, no revision")
        XCTAssertEqual(try api.call("POST", "/api/v1/deployments/omero-prod/origins", json: #"{"origin":"other.example"}"#).status, 400)
        let removed = try api.call("DELETE", "/api/v1/deployments/omero-prod/origins?origin=http%3A%2F%2Fother.example")
        XCTAssertEqual(removed.status, 200, removed.text)
        XCTAssertEqual((removed.json["cors"] as? [String: Any])?["allowed_origins"] as? [String], ["https://viewer.example.org"])
        XCTAssertEqual(try api.call("DELETE", "/api/v1/deployments/omero-prod/origins?origin=http://other.example").json["revision"] as? Int, 3)
        XCTAssertEqual(try api.call("DELETE", "/api/v1/deployments/omero-prod/origins").status, 400)
        XCTAssertEqual(try api.call("POST", "/api/v1/deployments/nope/origins", json: #"{"origin":"http://a.example"}"#).status, 404)
    }

    func testRevisionsAndRestore() throws {
        XCTAssertEqual(try api.call("POST", "/api/v1/deployments", json: seed).status, 201)
        XCTAssertEqual(try api.call("PATCH", "/api/v1/deployments/omero-prod", json: #"{"description":"v2"}"#).status, 200)
        XCTAssertEqual(try api.call("DELETE", "/api/v1/deployments/omero-prod").status, 204)
        let list = try api.call("GET", "/api/v1/deployments/omero-prod/revisions")
        XCTAssertEqual((list.json["revisions"] as? [[String: Any]])?.compactMap { $0["action"] as? String }, ["create", "update", "delete"])
        let r1 = try api.call("GET", "/api/v1/deployments/omero-prod/revisions/1")
        XCTAssertEqual((r1.json["deployment"] as? [String: Any])?["description"] as? String, "")
        XCTAssertEqual(r1.json["author"] as? String, "bootstrap")
        let restored = try api.call("POST", "/api/v1/deployments/omero-prod/revisions/2/restore")
        XCTAssertEqual(restored.status, 200, restored.text)
        XCTAssertEqual(restored.json["description"] as? String, "v2")
        XCTAssertEqual(restored.json["revision"] as? Int, 4)
        XCTAssertEqual(try api.call("GET", "/api/v1/deployments/omero-prod/revisions/99").status, 404)
        XCTAssertEqual(try api.call("GET", "/api/v1/deployments/omero-prod/revisions/zero").status, 404)
    }

    func testAuditIsPaginatedAndFiltered() throws {
        for i in 0..<3 {
            XCTAssertEqual(try api.call("POST", "/api/v1/deployments", json: #"{"name":"d\#(i)","upstream":"http://o"}"#).status, 201)
        }
        let first = try api.call("GET", "/api/v1/audit?limit=2")
        XCTAssertEqual((first.json["items"] as? [Any])?.count, 2)
        let next = try XCTUnwrap(first.json["next_after"] as? Int)
        let second = try api.call("GET", "/api/v1/audit?limit=2&after=\(next)")
        XCTAssertEqual((second.json["items"] as? [Any])?.count, 2)  // the third create, then none
        let filtered = try api.call("GET", "/api/v1/audit?deployment=d1&since=2000-01-01T00:00:00Z")
        let items = filtered.json["items"] as? [[String: Any]] ?? []
        XCTAssertEqual(items.map { $0["target"] as? String }, ["deployment:d1"])
        XCTAssertEqual(items.first?["client"] as? String, "127.0.0.1")
        XCTAssertEqual(try api.call("GET", "/api/v1/audit?limit=0").status, 400)
        XCTAssertEqual(try api.call("GET", "/api/v1/audit?since=yesterday").status, 400)
        XCTAssertEqual(try api.call("GET", "/api/v1/audit?colour=red").status, 400)
    }

    func testAuthenticationAndScopeMatrix() throws {
        XCTAssertEqual(try api.call("POST", "/api/v1/deployments", json: seed).status, 201)
        XCTAssertEqual(try api.call("POST", "/api/v1/deployments", json: #"{"name":"other","upstream":"http://o"}"#).status, 201)
        let reader = try createToken("reader", "read")
        let agent = try createToken("agent", "agent:omero-prod")

        let none = try api.call("GET", "/api/v1/deployments", token: .some(nil))
        XCTAssertEqual(none.status, 401)
        XCTAssertEqual(none.field("www-authenticate"), "Bearer realm=\"corsd\"")
        XCTAssertEqual(try api.call("GET", "/api/v1/deployments", token: "wrong").status, 401)

        let rows: [(method: String, path: String, body: String?, admin: Int, read: Int, agent: Int)] = [
            ("GET", "/api/v1/deployments", nil, 200, 200, 403),
            ("GET", "/api/v1/deployments/omero-prod", nil, 200, 200, 200),
            ("GET", "/api/v1/deployments/other", nil, 200, 200, 403),
            ("GET", "/api/v1/deployments/omero-prod/revisions", nil, 200, 200, 403),
            ("GET", "/api/v1/audit", nil, 200, 200, 403),
            ("GET", "/api/v1/tokens", nil, 200, 403, 403),
            ("PATCH", "/api/v1/deployments/omero-prod", #"{"description":"x"}"#, 200, 403, 403),
            ("POST", "/api/v1/deployments/omero-prod/origins", #"{"origin":"https://z.example"}"#, 200, 403, 403),
            ("POST", "/api/v1/tokens", #"{"name":"t-NAME","scope":"read"}"#, 201, 403, 403),
        ]
        for row in rows {
            for (who, secret, expected) in [("agent", agent, row.agent), ("read", reader, row.read), ("admin", Self.admin, row.admin)] {
                let body = row.body?.replacingOccurrences(of: "NAME", with: who)
                XCTAssertEqual(try api.call(row.method, row.path, json: body, token: secret).status, expected, "\(who) \(row.method) \(row.path)")
            }
        }
    }

    func testTokensAPI() throws {
        let secret = try createToken("ansible", "read")
        XCTAssertEqual(try api.call("GET", "/api/v1/deployments", token: secret).status, 200)
        let list = try api.call("GET", "/api/v1/tokens")
        XCTAssertFalse(list.text.contains(secret), "secrets are never listed")
        let id = try XCTUnwrap((list.json["tokens"] as? [[String: Any]])?.first { $0["name"] as? String == "ansible" }?["id"] as? String)
        XCTAssertEqual(try api.call("POST", "/api/v1/tokens", json: #"{"name":"ansible","scope":"read"}"#).status, 409)
        XCTAssertEqual(try api.call("POST", "/api/v1/tokens", json: #"{"name":"x","scope":"superuser"}"#).status, 400)
        XCTAssertEqual(try api.call("DELETE", "/api/v1/tokens/\(id)").status, 204)
        XCTAssertEqual(try api.call("GET", "/api/v1/deployments", token: secret).status, 401)
        XCTAssertEqual(try api.call("DELETE", "/api/v1/tokens/\(id)").status, 404)
        XCTAssertFalse(corsd.stderr.contains(secret), "token secrets are never logged")
    }

    func testRendersCarryContentETagsAndAnswer304() throws {
        XCTAssertEqual(try api.call("POST", "/api/v1/deployments", json: #"{"name":"omero-prod","upstream":"http://o:4080","systemd_units":[{"unit":"omero-web.service","user":"omero-web"}],"django":{"cors_headers_version":"2.5.3"},"cors":{"allowed_origins":["http://viewer.example.org:8080"]}}"#).status, 201)
        let agent = try createToken("host", "agent:omero-prod")
        let rows: [(format: String, type: String, contains: String)] = [
            ("settings.py", "text/x-python; charset=utf-8", "CORS_ORIGIN_WHITELIST = ('viewer.example.org:8080',)"),
            ("omero-web-config.sh", "text/x-shellscript; charset=utf-8", "omero.web.cors_origin_whitelist '[\"viewer.example.org:8080\"]'"),
            ("omero-web.omero", "text/plain; charset=utf-8", "config append --set omero.web.apps '\"corsheaders\"'"),
            ("omero-web.env", "text/plain; charset=utf-8", "CONFIG_omero_web_cors__origin__whitelist=[\"viewer.example.org:8080\"]"),
            ("limits.conf", "text/plain; charset=utf-8", "omero-web  soft    nofile  65535"),
            ("systemd/omero-web.service", "text/plain; charset=utf-8", "[Service]\nLimitNOFILE=65535:65535"),
            ("docker-compose.yml", "application/yaml; charset=utf-8", "        soft: 65535\n        hard: 65535"),
            ("supervisord.conf", "text/plain; charset=utf-8", "[supervisord]\nminfds=65535"),
        ]
        for row in rows {
            let r = try api.call("GET", "/api/v1/deployments/omero-prod/render/\(row.format)", token: agent)
            XCTAssertEqual(r.status, 200, row.format)
            XCTAssertEqual(r.field("content-type"), row.type, row.format)
            XCTAssertTrue(r.text.contains(row.contains), "\(row.format): \(r.text)")
            let etag = try XCTUnwrap(r.field("etag"))
            XCTAssertEqual(try api.call("GET", "/api/v1/deployments/omero-prod/render/\(row.format)", headers: ["If-None-Match": etag], token: agent).status, 304)
        }
        let modern = try api.call("GET", "/api/v1/deployments/omero-prod/render/settings.py?dialect=modern")
        XCTAssertTrue(modern.text.contains("CORS_ALLOWED_ORIGINS = ('http://viewer.example.org:8080',)"))
        // A change changes the content and so the ETag.
        let before = try api.call("GET", "/api/v1/deployments/omero-prod/render/settings.py").field("etag")
        XCTAssertEqual(try api.call("POST", "/api/v1/deployments/omero-prod/origins", json: #"{"origin":"https://viewer.example.org"}"#).status, 200)
        XCTAssertNotEqual(try api.call("GET", "/api/v1/deployments/omero-prod/render/settings.py").field("etag"), before)
        // http:// and https:// on the default ports are one bare host in the legacy dialect.
        XCTAssertEqual(try api.call("POST", "/api/v1/deployments/omero-prod/origins", json: #"{"origin":"http://viewer.example.org"}"#).status, 200)
        let clash = try api.call("GET", "/api/v1/deployments/omero-prod/render/settings.py")
        XCTAssertEqual(clash.status, 422)
        XCTAssertEqual((clash.json["errors"] as? [[String: String]])?.first?["rule"], "legacy_dialect")
        XCTAssertEqual(try api.call("GET", "/api/v1/deployments/omero-prod/render/systemd/other.service").status, 404)
        XCTAssertEqual(try api.call("GET", "/api/v1/deployments/omero-prod/render/nginx.conf").status, 404)
        XCTAssertEqual(try api.call("GET", "/api/v1/deployments/omero-prod/render/settings.py?dialect=ancient").status, 400)
        XCTAssertEqual(try api.call("GET", "/api/v1/deployments/other/render/limits.conf", token: agent).status, 403)
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

    func testCORSCheckExplainsTheDecision() throws {
        XCTAssertEqual(try api.call("POST", "/api/v1/deployments", json: seed).status, 201)
        let allowed = try api.call("POST", "/api/v1/deployments/omero-prod/cors/check", json: #"{"origin":"https://viewer.example.org","method":"OPTIONS","request_method":"GET"}"#)
        XCTAssertEqual(allowed.status, 200, allowed.text)
        XCTAssertEqual(allowed.json["action"] as? String, "answerPreflight")
        XCTAssertEqual(allowed.json["rule"] as? String, "allowed_origins")
        let headers = (allowed.json["headers"] as? [[String: String]]) ?? []
        XCTAssertTrue(headers.contains { $0["name"] == "Access-Control-Allow-Origin" && $0["value"] == "https://viewer.example.org" })
        let refused = try api.call("POST", "/api/v1/deployments/omero-prod/cors/check", json: #"{"origin":"https://evil.example"}"#)
        XCTAssertEqual(refused.json["action"] as? String, "refuse")
        XCTAssertEqual(refused.json["origin_allowed"] as? Bool, false)
        XCTAssertEqual(try api.call("POST", "/api/v1/deployments/omero-prod/cors/check", json: #"{"origin":1}"#).status, 400)
        XCTAssertEqual(try api.call("POST", "/api/v1/deployments/nope/cors/check", json: #"{}"#).status, 404)
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
        let secret = try XCTUnwrap(corsd.stderr.firstMatch(of: /corsd_[0-9a-f]{64}/).map { String($0.output) }, corsd.stderr)
        let api = APIClient(port: corsd.port, token: secret)
        XCTAssertEqual(try api.call("GET", "/api/v1/tokens").status, 200)
        corsd.stop()
        let again = try CorsdProcess(databasePath: corsd.databasePath, debugRoutes: false)
        defer { again.stop() }
        XCTAssertNil(again.stderr.firstMatch(of: /corsd_[0-9a-f]{64}/), "not printed again")
    }

    func testTokenCommandsWorkOnTheDatabase() throws {
        let db = CorsdProcess.temporaryDirectory() + "/c.sqlite"
        let created = try CorsdProcess.run(["token", "create", "--db", db, "--name", "ops", "--scope", "admin"])
        XCTAssertEqual(created.status, 0, created.stderr)
        let secret = try XCTUnwrap(created.stdout.firstMatch(of: /corsd_[0-9a-f]{64}/).map { String($0.output) })
        let list = try CorsdProcess.run(["token", "list", "--db", db])
        XCTAssertTrue(list.stdout.contains("ops\tadmin"), list.stdout)
        XCTAssertFalse(list.stdout.contains(secret))
        let bad = try CorsdProcess.run(["token", "create", "--db", db, "--name", "x", "--scope", "root"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("scope 'root'"), bad.stderr)
        let id = try XCTUnwrap(list.stdout.split(separator: "\t").first.map(String.init))
        XCTAssertEqual(try CorsdProcess.run(["token", "revoke", "--db", db, id]).status, 0)
        XCTAssertNotEqual(try CorsdProcess.run(["token", "revoke", "--db", db, id]).status, 0)
        let migrate = try CorsdProcess.run(["migrate", "--db", db])
        XCTAssertEqual(migrate.status, 0)
        XCTAssertTrue(migrate.stdout.contains("up to date"))
    }
}

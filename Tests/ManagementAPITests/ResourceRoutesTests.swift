import Foundation
import Testing

/// Origins, revisions, audit, tokens, renders, the CORS check and the auth wrapper, in process.
@Suite struct ResourceRoutesTests {
    @Test func originsConvenienceIsIdempotent() async throws {
        let api = try await TestAPI()
        #expect(await api.call("POST", "/api/v1/deployments", json: TestAPI.seed).status == 201)
        let add = await api.call("POST", "/api/v1/deployments/omero-prod/origins", json: #"{"origin":"HTTP://Other.Example:80"}"#)
        #expect(add.status == 200, "\(add.text)")
        #expect((add.json["cors"] as? [String: Any])?["allowed_origins"] as? [String] == ["https://viewer.example.org", "http://other.example"])
        #expect(add.json["revision"] as? Int == 2)
        #expect(await api.call("POST", "/api/v1/deployments/omero-prod/origins", json: #"{"origin":"http://other.example"}"#).json["revision"] as? Int == 2, "no change, no revision")
        #expect(await api.call("POST", "/api/v1/deployments/omero-prod/origins", json: #"{"origin":"other.example"}"#).issues == ["origin origin"])
        #expect(await api.call("POST", "/api/v1/deployments/omero-prod/origins", json: #"{"origin":"http://a.example","x":1}"#).issues == ["x unknown_field"])
        let removed = await api.call("DELETE", "/api/v1/deployments/omero-prod/origins?origin=http%3A%2F%2Fother.example")
        #expect(removed.status == 200, "\(removed.text)")
        #expect((removed.json["cors"] as? [String: Any])?["allowed_origins"] as? [String] == ["https://viewer.example.org"])
        #expect(await api.call("DELETE", "/api/v1/deployments/omero-prod/origins").issues == ["origin required"])
        #expect(await api.call("DELETE", "/api/v1/deployments/omero-prod/origins?origin=%zz").issues == ["origin percent_encoding"])
        #expect(await api.call("POST", "/api/v1/deployments/nope/origins", json: #"{"origin":"http://a.example"}"#).status == 404)
    }

    @Test func revisionsDiffAndRestore() async throws {
        let api = try await TestAPI()
        #expect(await api.call("POST", "/api/v1/deployments", json: TestAPI.seed).status == 201)
        #expect(await api.call("PATCH", "/api/v1/deployments/omero-prod", json: #"{"description":"v2","limits":[{"domain":"omero-web","type":"-","item":"nofile","value":8192}]}"#).status == 200)
        #expect(await api.call("DELETE", "/api/v1/deployments/omero-prod").status == 204)
        let list = await api.call("GET", "/api/v1/deployments/omero-prod/revisions")
        #expect((list.json["revisions"] as? [[String: Any]])?.compactMap { $0["action"] as? String } == ["create", "update", "delete"])
        let r1 = await api.call("GET", "/api/v1/deployments/omero-prod/revisions/1")
        #expect((r1.json["deployment"] as? [String: Any])?["description"] as? String == "")
        #expect(r1.json["author"] as? String == "bootstrap")

        let diff = await api.call("GET", "/api/v1/deployments/omero-prod/revisions/1/diff/2")
        #expect(diff.status == 200, "\(diff.text)")
        let document = diff.json["document"] as? String ?? ""
        #expect(document.contains("-  \"description\": \"\",\n+  \"description\": \"v2\","), "\(document)")
        let renders = diff.json["renders"] as? [[String: Any]] ?? []
        let changed = Set(renders.filter { $0["changed"] as? Bool == true }.compactMap { $0["format"] as? String })
        #expect(changed.contains("limits.conf"))
        #expect(!changed.contains("settings.py"), "a limits change leaves settings.py byte-identical")
        #expect((renders.first { $0["format"] as? String == "limits.conf" }?["diff"] as? String ?? "").contains("+omero-web  -       nofile  8192"))

        let restored = await api.call("POST", "/api/v1/deployments/omero-prod/revisions/2/restore")
        #expect(restored.status == 200, "\(restored.text)")
        #expect(restored.json["description"] as? String == "v2")
        #expect(restored.json["revision"] as? Int == 4)
        #expect(await api.call("GET", "/api/v1/deployments/omero-prod/revisions/99").status == 404)
        #expect(await api.call("GET", "/api/v1/deployments/omero-prod/revisions/zero").status == 404)
        #expect(await api.call("GET", "/api/v1/deployments/omero-prod/revisions/1/diff/99").status == 404)
    }

    @Test func auditIsPaginatedAndFiltered() async throws {
        let api = try await TestAPI()
        for i in 0..<3 {
            #expect(await api.call("POST", "/api/v1/deployments", json: #"{"name":"d\#(i)","upstream":"http://o"}"#).status == 201)
        }
        let first = await api.call("GET", "/api/v1/audit?limit=2")
        #expect((first.json["items"] as? [Any])?.count == 2)
        let next = try #require(first.json["next_after"] as? Int)
        let second = await api.call("GET", "/api/v1/audit?limit=2&after=\(next)")
        #expect((second.json["items"] as? [Any])?.count == 2)  // the third create and the bootstrap token's
        let filtered = await api.call("GET", "/api/v1/audit?deployment=d1&since=2000-01-01T00:00:00Z")
        let items = filtered.json["items"] as? [[String: Any]] ?? []
        #expect(items.map { $0["target"] as? String } == ["deployment:d1"])
        #expect(items.first?["client"] as? String == "127.0.0.1")
        #expect(await api.call("GET", "/api/v1/audit?limit=0").issues == ["limit range"])
        #expect(await api.call("GET", "/api/v1/audit?since=yesterday").issues == ["since rfc3339"])
        #expect(await api.call("GET", "/api/v1/audit?colour=red").issues == ["colour unknown_parameter"])
    }

    struct ScopeRow: CustomTestStringConvertible, Sendable {
        var method: String
        var path: String
        var body: String?
        var admin: Int
        var read: Int
        var agent: Int
        var testDescription: String { "\(method) \(path)" }
    }

    /// The auth wrapper: each route with each kind of token.
    @Test(arguments: [
        ScopeRow(method: "GET", path: "/api/v1/deployments", body: nil, admin: 200, read: 200, agent: 403),
        ScopeRow(method: "GET", path: "/api/v1/deployments/omero-prod", body: nil, admin: 200, read: 200, agent: 200),
        ScopeRow(method: "GET", path: "/api/v1/deployments/other", body: nil, admin: 200, read: 200, agent: 403),
        ScopeRow(method: "GET", path: "/api/v1/deployments/omero-prod/render/limits.conf", body: nil, admin: 200, read: 200, agent: 200),
        ScopeRow(method: "GET", path: "/api/v1/deployments/other/render/limits.conf", body: nil, admin: 200, read: 200, agent: 403),
        ScopeRow(method: "GET", path: "/api/v1/deployments/omero-prod/revisions", body: nil, admin: 200, read: 200, agent: 403),
        ScopeRow(method: "GET", path: "/api/v1/audit", body: nil, admin: 200, read: 200, agent: 403),
        ScopeRow(method: "GET", path: "/api/v1/tokens", body: nil, admin: 200, read: 403, agent: 403),
        ScopeRow(method: "PATCH", path: "/api/v1/deployments/omero-prod", body: #"{"description":"x"}"#, admin: 200, read: 403, agent: 403),
        ScopeRow(method: "POST", path: "/api/v1/deployments/omero-prod/origins", body: #"{"origin":"https://z.example"}"#, admin: 200, read: 403, agent: 403),
        ScopeRow(method: "POST", path: "/api/v1/tokens", body: #"{"name":"t-NAME","scope":"read"}"#, admin: 201, read: 403, agent: 403),
    ])
    func scopes(_ row: ScopeRow) async throws {
        let api = try await TestAPI()
        #expect(await api.call("POST", "/api/v1/deployments", json: TestAPI.seed).status == 201)
        #expect(await api.call("POST", "/api/v1/deployments", json: #"{"name":"other","upstream":"http://o"}"#).status == 201)
        let reader = await api.token("reader", "read"), agent = await api.token("agent", "agent:omero-prod")
        for (who, secret, expected) in [("agent", agent, row.agent), ("read", reader, row.read), ("admin", TestAPI.admin, row.admin)] {
            let r = await api.call(row.method, row.path, json: row.body?.replacingOccurrences(of: "NAME", with: who), token: secret)
            #expect(r.status == expected, "\(who): \(r.text)")
        }
    }

    @Test func missingOrWrongTokensAre401WithAChallenge() async throws {
        let api = try await TestAPI()
        let none = await api.call("GET", "/api/v1/deployments", token: nil)
        #expect(none.status == 401)
        #expect(none.field("www-authenticate") == "Bearer realm=\"corsd\"")
        #expect(none.field("content-type") == "application/problem+json")
        let wrong = await api.call("GET", "/api/v1/deployments", token: "wrong")
        #expect(wrong.status == 401)
        #expect(wrong.field("www-authenticate") == "Bearer realm=\"corsd\", error=\"invalid_token\"")
        #expect(await api.call("GET", "/healthz", token: nil).status == 200)
    }

    @Test func tokensAPI() async throws {
        let api = try await TestAPI()
        let secret = await api.token("ansible", "read")
        #expect(await api.call("GET", "/api/v1/deployments", token: secret).status == 200)
        let list = await api.call("GET", "/api/v1/tokens")
        #expect(!list.text.contains(secret), "secrets are never listed")
        let id = try #require((list.json["tokens"] as? [[String: Any]])?.first { $0["name"] as? String == "ansible" }?["id"] as? String)
        #expect(await api.call("POST", "/api/v1/tokens", json: #"{"name":"ansible","scope":"read"}"#).status == 409)
        #expect(await api.call("POST", "/api/v1/tokens", json: #"{"name":"x","scope":"superuser"}"#).issues == ["scope scope"])
        #expect(await api.call("POST", "/api/v1/tokens", json: #"{"name":"a b","scope":"read"}"#).issues == ["name token_name"])
        #expect(await api.call("POST", "/api/v1/tokens", json: #"{"scope":"read"}"#).issues == ["name required"])
        #expect(await api.call("DELETE", "/api/v1/tokens/\(id)").status == 204)
        #expect(await api.call("GET", "/api/v1/deployments", token: secret).status == 401)
        #expect(await api.call("DELETE", "/api/v1/tokens/\(id)").status == 404)
    }

    @Test func rendersCarryContentETagsAndAnswer304() async throws {
        let api = try await TestAPI()
        #expect(await api.call("POST", "/api/v1/deployments", json: #"{"name":"omero-prod","upstream":"http://o:4080","systemd_units":[{"unit":"omero-web.service","user":"omero-web"}],"django":{"cors_headers_version":"2.5.3"},"cors":{"allowed_origins":["http://viewer.example.org:8080"]}}"#).status == 201)
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
        var etags: [String: String] = [:]
        for row in rows {
            let r = await api.call("GET", "/api/v1/deployments/omero-prod/render/\(row.format)")
            #expect(r.status == 200, "\(row.format)")
            #expect(r.field("content-type") == row.type, "\(row.format)")
            #expect(r.text.contains(row.contains), "\(row.format): \(r.text)")
            let etag = try #require(r.field("etag"))
            etags[row.format] = etag
            #expect(await api.call("GET", "/api/v1/deployments/omero-prod/render/\(row.format)", headers: ["If-None-Match": etag]).status == 304)
        }
        let modern = await api.call("GET", "/api/v1/deployments/omero-prod/render/settings.py?dialect=modern")
        #expect(modern.text.contains("CORS_ALLOWED_ORIGINS = ('http://viewer.example.org:8080',)"))
        // A description-only edit leaves every render byte-identical: same ETags.
        #expect(await api.call("PATCH", "/api/v1/deployments/omero-prod", json: #"{"description":"only words"}"#).status == 200)
        for row in rows {
            #expect(await api.call("GET", "/api/v1/deployments/omero-prod/render/\(row.format)").field("etag") == etags[row.format], "\(row.format)")
        }
        // A change to what the file configures changes its content and so its ETag.
        #expect(await api.call("POST", "/api/v1/deployments/omero-prod/origins", json: #"{"origin":"https://viewer.example.org"}"#).status == 200)
        #expect(await api.call("GET", "/api/v1/deployments/omero-prod/render/settings.py").field("etag") != etags["settings.py"])
        // http:// and https:// on the default ports are one bare host in the legacy dialect.
        #expect(await api.call("POST", "/api/v1/deployments/omero-prod/origins", json: #"{"origin":"http://viewer.example.org"}"#).status == 200)
        let clash = await api.call("GET", "/api/v1/deployments/omero-prod/render/settings.py")
        #expect(clash.status == 422)
        #expect(clash.issues == ["cors.allowed_origins[2] legacy_dialect"])
        #expect(await api.call("GET", "/api/v1/deployments/omero-prod/render/systemd/other.service").status == 404)
        #expect(await api.call("GET", "/api/v1/deployments/omero-prod/render/nginx.conf").status == 404)
        #expect(await api.call("GET", "/api/v1/deployments/omero-prod/render/settings.py?dialect=ancient").issues == ["dialect enum"])
    }

    @Test func corsCheckExplainsTheDecision() async throws {
        let api = try await TestAPI()
        #expect(await api.call("POST", "/api/v1/deployments", json: TestAPI.seed).status == 201)
        let allowed = await api.call("POST", "/api/v1/deployments/omero-prod/cors/check", json: #"{"origin":"https://viewer.example.org","method":"OPTIONS","request_method":"GET"}"#)
        #expect(allowed.status == 200, "\(allowed.text)")
        #expect(allowed.json["action"] as? String == "answerPreflight")
        #expect(allowed.json["rule"] as? String == "allowed_origins")
        let headers = (allowed.json["headers"] as? [[String: String]]) ?? []
        #expect(headers.contains { $0["name"] == "Access-Control-Allow-Origin" && $0["value"] == "https://viewer.example.org" })
        let refused = await api.call("POST", "/api/v1/deployments/omero-prod/cors/check", json: #"{"origin":"https://evil.example"}"#)
        #expect(refused.json["action"] as? String == "refuse")
        #expect(refused.json["origin_allowed"] as? Bool == false)
        let noOrigin = await api.call("POST", "/api/v1/deployments/omero-prod/cors/check", json: #"{}"#)
        #expect(noOrigin.json.keys.contains("origin_allowed"), "origin_allowed is null, not absent")
        #expect(await api.call("POST", "/api/v1/deployments/omero-prod/cors/check", json: #"{"origin":1}"#).issues == ["origin type"])
        #expect(await api.call("POST", "/api/v1/deployments/omero-prod/cors/check", json: #"{"method":"GE T"}"#).issues == ["method token"])
        #expect(await api.call("POST", "/api/v1/deployments/omero-prod/cors/check", json: #"{"method":null}"#).issues == ["method type"])
        #expect(await api.call("POST", "/api/v1/deployments/nope/cors/check", json: #"{}"#).status == 404)
    }
}

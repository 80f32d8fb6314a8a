import Foundation
import Testing

/// `/deployments`: CRUD, ETags and preconditions (RFC 9110), the GET → PUT round trip, strict
/// JSON and problem+json for every refusal. In process, over an in-memory database.
@Suite struct DeploymentRoutesTests {
    @Test func createReadUpdateDeleteWithETags() async throws {
        let api = try await TestAPI()
        let created = await api.call("POST", "/api/v1/deployments", json: TestAPI.seed)
        #expect(created.status == 201, "\(created.text)")
        #expect(created.field("etag") == "\"1\"")
        #expect(created.field("location") == "/api/v1/deployments/omero-prod")
        #expect((created.json["cors"] as? [String: Any])?["allowed_origins"] as? [String] == ["https://viewer.example.org"])
        #expect(await api.call("POST", "/api/v1/deployments", json: TestAPI.seed).status == 409)

        let got = await api.call("GET", "/api/v1/deployments/omero-prod")
        #expect(got.status == 200)
        #expect(got.field("etag") == "\"1\"")
        #expect(await api.call("GET", "/api/v1/deployments/omero-prod", headers: ["If-None-Match": "\"1\""]).status == 304)

        let stale = await api.call("PUT", "/api/v1/deployments/omero-prod", json: #"{"upstream":"http://other:4080"}"#, headers: ["If-Match": "\"9\""])
        #expect(stale.status == 412)
        #expect(stale.field("etag") == "\"1\"")
        let put = await api.call("PUT", "/api/v1/deployments/omero-prod", json: #"{"upstream":"http://other:4080"}"#, headers: ["If-Match": "\"1\""])
        #expect(put.status == 200, "\(put.text)")
        #expect(put.field("etag") == "\"2\"")
        #expect((put.json["cors"] as? [String: Any])?["allowed_origins"] as? [String] == [], "PUT replaces the whole document")

        let patch = await api.call("PATCH", "/api/v1/deployments/omero-prod", json: #"{"description":"prod","cors":{"allow_credentials":true}}"#, contentType: "application/merge-patch+json")
        #expect(patch.status == 200, "\(patch.text)")
        #expect(patch.json["description"] as? String == "prod")
        #expect(patch.json["upstream"] as? String == "http://other:4080")
        #expect(patch.json["revision"] as? Int == 3)

        #expect(await api.call("DELETE", "/api/v1/deployments/omero-prod", headers: ["If-Match": "\"2\""]).status == 412)
        #expect(await api.call("DELETE", "/api/v1/deployments/omero-prod").status == 204)
        #expect(await api.call("GET", "/api/v1/deployments/omero-prod").status == 404)
        #expect(await api.call("DELETE", "/api/v1/deployments/omero-prod").status == 404)
    }

    /// What GET returns goes back through PUT unchanged: read-only members are ignored, and
    /// an identical document writes no revision.
    @Test func getThenPutRoundTrips() async throws {
        let api = try await TestAPI()
        #expect(await api.call("POST", "/api/v1/deployments", json: #"{"name":"rt","upstream":"http://o:4080","cors":{"allow_all_origins":true,"allow_credentials":true}}"#).status == 201)
        let got = await api.call("GET", "/api/v1/deployments/rt")
        #expect((got.json["warnings"] as? [Any])?.count == 1, "a read carries its warnings")
        let put = await api.call("PUT", "/api/v1/deployments/rt", json: got.text, headers: ["If-Match": got.field("etag") ?? ""])
        #expect(put.status == 200, "\(put.text)")
        #expect(put.field("etag") == "\"1\"", "no change, no revision")
        var edited = got.json
        edited["revision"] = 99
        edited["created_at"] = "yesterday"
        let data = try JSONSerialization.data(withJSONObject: edited)
        #expect(await api.call("PUT", "/api/v1/deployments/rt", json: String(decoding: data, as: UTF8.self)).status == 200, "read-only members that differ are ignored")
    }

    struct PreconditionRow: CustomTestStringConvertible, Sendable {
        var name: String
        var method: String
        var target: String
        var ifMatch: String
        var status: Int
        var testDescription: String { name }
    }

    /// `If-Match` per RFC 9110 §13.1.1: `*` or a list, strong comparison; on a missing resource
    /// a PUT fails its precondition (412) while PATCH and DELETE stay 404.
    @Test(arguments: [
        PreconditionRow(name: "list naming the current tag", method: "PATCH", target: "omero-prod", ifMatch: #""7", "1""#, status: 200),
        PreconditionRow(name: "list naming none", method: "PATCH", target: "omero-prod", ifMatch: #""7", "8""#, status: 412),
        PreconditionRow(name: "weak tag never matches", method: "PATCH", target: "omero-prod", ifMatch: #"W/"1""#, status: 412),
        PreconditionRow(name: "star on existing", method: "PATCH", target: "omero-prod", ifMatch: "*", status: 200),
        PreconditionRow(name: "malformed", method: "PATCH", target: "omero-prod", ifMatch: "1", status: 400),
        PreconditionRow(name: "PUT star on missing", method: "PUT", target: "absent", ifMatch: "*", status: 412),
        PreconditionRow(name: "PUT tag on missing", method: "PUT", target: "absent", ifMatch: #""1""#, status: 412),
        PreconditionRow(name: "PATCH star on missing", method: "PATCH", target: "absent", ifMatch: "*", status: 404),
        PreconditionRow(name: "DELETE tag on missing", method: "DELETE", target: "absent", ifMatch: #""1""#, status: 404),
        PreconditionRow(name: "DELETE list naming the current tag", method: "DELETE", target: "omero-prod", ifMatch: #""3", "1""#, status: 204),
    ])
    func ifMatch(_ row: PreconditionRow) async throws {
        let api = try await TestAPI()
        #expect(await api.call("POST", "/api/v1/deployments", json: TestAPI.seed).status == 201)
        let body: String? = row.method == "DELETE" ? nil : (row.method == "PUT" ? #"{"upstream":"http://o"}"# : #"{"description":"x"}"#)
        let r = await api.call(row.method, "/api/v1/deployments/\(row.target)", json: body, headers: ["If-Match": row.ifMatch])
        #expect(r.status == row.status, "\(r.text)")
        if r.status == 400 { #expect(r.issues == ["If-Match entity_tags"]) }
    }

    @Test func putWithIfNoneMatchStarCreatesOnly() async throws {
        let api = try await TestAPI()
        #expect(await api.call("PUT", "/api/v1/deployments/new-site", json: #"{"upstream":"http://o"}"#, headers: ["If-None-Match": "*"]).status == 201)
        #expect(await api.call("PUT", "/api/v1/deployments/new-site", json: #"{"upstream":"http://p"}"#, headers: ["If-None-Match": "*"]).status == 412)
        #expect(await api.call("PUT", "/api/v1/deployments/x", json: #"{"name":"y","upstream":"http://o"}"#).issues == ["name immutable"])
        // A list: the write fails when it names the current revision.
        #expect(await api.call("PATCH", "/api/v1/deployments/new-site", json: #"{"description":"a"}"#, headers: ["If-None-Match": #""1""#]).status == 412)
        #expect(await api.call("PATCH", "/api/v1/deployments/new-site", json: #"{"description":"a"}"#, headers: ["If-None-Match": #""7""#]).status == 200)
        #expect(await api.call("PUT", "/api/v1/deployments/new-site", json: #"{"upstream":"http://o"}"#, headers: ["If-None-Match": "AAA"]).issues == ["If-None-Match entity_tags"])
    }

    /// Revisions continue across delete and re-create, so a re-created deployment never
    /// shows an ETag its predecessor had.
    @Test func etagsAreNotReusedAfterDeleteAndRecreate() async throws {
        let api = try await TestAPI()
        let first = await api.call("POST", "/api/v1/deployments", json: TestAPI.seed).field("etag")
        #expect(await api.call("DELETE", "/api/v1/deployments/omero-prod").status == 204)
        let again = await api.call("POST", "/api/v1/deployments", json: TestAPI.seed)
        #expect(again.status == 201)
        #expect(first == "\"1\"")
        #expect(again.field("etag") == "\"3\"")
        #expect(await api.call("PATCH", "/api/v1/deployments/omero-prod", json: #"{"description":"x"}"#, headers: ["If-Match": "\"1\""]).status == 412)
    }

    struct BodyRow: CustomTestStringConvertible, Sendable {
        var name: String
        var body: [UInt8]
        var issue: String
        var testDescription: String { name }
    }

    /// Strict JSON in one pass: each refusal is a 400 naming its rule, and nothing is stored.
    @Test(arguments: [
        BodyRow(name: "duplicate key", body: Array(#"{"name":"a","name":"b","upstream":"http://o"}"#.utf8), issue: " duplicate_key"),
        BodyRow(name: "integer beyond 2^53", body: Array(#"{"name":"a","upstream":"http://o","cache":{"tiles_ttl_s":9007199254740993}}"#.utf8), issue: " number_range"),
        BodyRow(name: "invalid UTF-8", body: Array(#"{"name":"a","upstream":"http://o","description":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8), issue: " utf8"),
        BodyRow(name: "nesting over 32", body: Array(("{\"name\":\"a\",\"upstream\":\"http://o\",\"description\":" + String(repeating: "[", count: 40) + String(repeating: "]", count: 40) + "}").utf8), issue: " max_depth"),
        BodyRow(name: "not JSON", body: Array("{not json".utf8), issue: " json"),
        BodyRow(name: "1002 scalars in 501 graphemes", body: Array(#"{"name":"a","upstream":"http://o","description":"\#(String(repeating: "e\u{301}", count: 501))"}"#.utf8), issue: "description max_length"),
    ])
    func strictJSON(_ row: BodyRow) async throws {
        let api = try await TestAPI()
        let r = await api.call("POST", "/api/v1/deployments", body: row.body)
        #expect(r.status == 400, "\(r.text)")
        #expect(r.field("content-type") == "application/problem+json")
        #expect(r.issues == [row.issue])
        #expect((await api.call("GET", "/api/v1/deployments").json["deployments"] as? [Any])?.count == 0, "nothing stored")
    }

    @Test func lengthLimitsCountScalarsNotBytes() async throws {
        let api = try await TestAPI()
        // 1000 two-byte scalars: at the limit.
        let r = await api.call("POST", "/api/v1/deployments", json: #"{"name":"a","upstream":"http://o","description":"\#(String(repeating: "é", count: 1000))"}"#)
        #expect(r.status == 201, "\(r.text)")
    }

    @Test func invalidInputIsAProblemNamingFieldAndRule() async throws {
        let api = try await TestAPI()
        let r = await api.call("POST", "/api/v1/deployments", json: #"{"name":"omero-prod","upstream":"http://o","description":"line1\nline2","cors":{"allowed_origins":["https://ok.example","viewer.example.org:8080"],"preflight_max_age":-1}}"#)
        #expect(r.status == 400)
        #expect(r.field("content-type") == "application/problem+json")
        #expect(Set(r.issues) == ["description no_control_characters", "cors.allowed_origins[1] origin", "cors.preflight_max_age range"])
        let wrongType = await api.call("POST", "/api/v1/deployments", json: TestAPI.seed, contentType: "text/plain")
        #expect(wrongType.status == 415)
        #expect(wrongType.issues == ["Content-Type content_type"])
        #expect(await api.call("GET", "/api/v1/deployments?colour=red").issues == ["colour unknown_parameter"])
    }

    @Test func injectionAttemptsAreRejectedAt400() async throws {
        let api = try await TestAPI()
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
            #expect(await api.call("POST", "/api/v1/deployments", json: body).status == 400, "\(body)")
        }
    }

    @Test func unknownRoutesAndMethodsAreProblems() async throws {
        let api = try await TestAPI()
        let notFound = await api.call("GET", "/api/v1/nothing")
        #expect(notFound.status == 404)
        #expect(notFound.field("content-type") == "application/problem+json")
        let method = await api.call("DELETE", "/api/v1/deployments")
        #expect(method.status == 405)
        #expect(method.field("allow") == "GET, POST, HEAD")
        #expect(method.field("content-type") == "application/problem+json")
    }
}

import Foundation
import Testing

/// `?dry_run=true` on every write: what would be stored and each render's diff, nothing written.
@Suite struct DryRunTests {
    struct Row: CustomTestStringConvertible, Sendable {
        var method: String
        var path: String
        var body: String?
        var action: String
        var changedRender: String?
        var testDescription: String { "\(method) \(path)" }
    }

    @Test(arguments: [
        Row(method: "POST", path: "/api/v1/deployments", body: #"{"name":"new","upstream":"http://o"}"#, action: "create", changedRender: "limits.conf"),
        Row(method: "PUT", path: "/api/v1/deployments/omero-prod", body: #"{"upstream":"http://omero-web.internal:4080","cors":{"allowed_origins":["https://other.example"]}}"#, action: "update", changedRender: "settings.py"),
        Row(method: "PATCH", path: "/api/v1/deployments/omero-prod", body: #"{"description":"words only"}"#, action: "update", changedRender: nil),
        Row(method: "DELETE", path: "/api/v1/deployments/omero-prod", body: nil, action: "delete", changedRender: "settings.py"),
        Row(method: "POST", path: "/api/v1/deployments/omero-prod/origins", body: #"{"origin":"https://viewer.example.org"}"#, action: "none", changedRender: nil),
        Row(method: "POST", path: "/api/v1/deployments/omero-prod/revisions/1/restore", body: nil, action: "none", changedRender: nil),
    ])
    func dryRunWritesNothing(_ row: Row) async throws {
        let api = try await TestAPI()
        #expect(await api.call("POST", "/api/v1/deployments", json: TestAPI.seed).status == 201)
        let before = await api.call("GET", "/api/v1/audit").text
        let r = await api.call(row.method, row.path + (row.path.contains("?") ? "&" : "?") + "dry_run=true", json: row.body)
        #expect(r.status == 200, "\(r.text)")
        #expect(r.json["dry_run"] as? Bool == true)
        #expect(r.json["action"] as? String == row.action)
        let renders = r.json["renders"] as? [[String: Any]] ?? []
        let changed = renders.filter { $0["changed"] as? Bool == true }.compactMap { $0["format"] as? String }
        if let format = row.changedRender {
            #expect(changed.contains(format), "\(changed)")
            let diff = renders.first { $0["format"] as? String == format }?["diff"] as? String ?? ""
            #expect(diff.hasPrefix("--- \(format) ("), "\(diff)")
        } else {
            #expect(changed.isEmpty, "\(changed)")
        }
        #expect(await api.call("GET", "/api/v1/audit").text == before, "nothing was written")
        let got = await api.call("GET", "/api/v1/deployments/omero-prod")
        #expect(got.field("etag") == "\"1\"")
    }

    @Test func dryRunStillChecksInputAndPreconditions() async throws {
        let api = try await TestAPI()
        #expect(await api.call("POST", "/api/v1/deployments", json: TestAPI.seed).status == 201)
        #expect(await api.call("PUT", "/api/v1/deployments/omero-prod?dry_run=true", json: #"{"upstream":"ftp://o"}"#).issues == ["upstream http_url"])
        #expect(await api.call("PUT", "/api/v1/deployments/omero-prod?dry_run=true", json: #"{"upstream":"http://o"}"#, headers: ["If-Match": "\"5\""]).status == 412)
        #expect(await api.call("PUT", "/api/v1/deployments/omero-prod?dry_run=maybe", json: #"{"upstream":"http://o"}"#).issues == ["dry_run boolean"])
        #expect(await api.call("PUT", "/api/v1/deployments/omero-prod?dry_run=", json: #"{"upstream":"http://o"}"#).issues == ["dry_run boolean"],
                "an empty value is neither true nor false (found by schemathesis)")
        let r = await api.call("PUT", "/api/v1/deployments/omero-prod?dry_run=true", json: #"{"upstream":"http://o"}"#)
        #expect(r.json["current_revision"] as? Int == 1)
        #expect((r.json["document"] as? String ?? "").contains("+  \"upstream\": \"http://o\""))
    }
}

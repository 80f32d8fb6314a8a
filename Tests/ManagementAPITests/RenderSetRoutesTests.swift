import Foundation
import Testing

/// `/deployments/{name}/renders` and its long-poll, in process over a real (in-memory) store.
@Suite struct RenderSetRoutesTests {
    let seed = #"{"upstream":"http://omero-web.internal:4080","cors":{"allowed_origins":["https://viewer.example.org"]},"systemd_units":[{"unit":"omero-web.service","user":"omero-web"}],"limits":[{"domain":"omero-web","type":"-","item":"nofile","value":65536}]}"#

    func put(_ api: TestAPI, _ patch: (inout [String: Any]) -> Void) async -> Int {
        var doc = try! JSONSerialization.jsonObject(with: Data(seed.utf8)) as! [String: Any]
        patch(&doc)
        let body = String(decoding: try! JSONSerialization.data(withJSONObject: doc), as: UTF8.self)
        return await api.call("PUT", "/api/v1/deployments/omero-prod", json: body).status
    }

    /// Waits (bounded) until `n` requests are parked on the watch.
    func parked(_ api: TestAPI, _ n: Int) async throws {
        for _ in 0..<2000 where api.watch.waiting < n { try await Task.sleep(for: .milliseconds(1)) }
        #expect(api.watch.waiting == n)
    }

    @Test func theSetListsEveryRenderAndChangesOnlyWhenAFileDoes() async throws {
        let api = try await TestAPI()
        #expect(await put(api) { _ in } == 201)
        let first = await api.call("GET", "/api/v1/deployments/omero-prod/renders")
        #expect(first.status == 200)
        let etag = try #require(first.field("etag"))
        #expect(etag.hasPrefix("W/\"set-"))
        let renders = try #require(first.json["renders"] as? [[String: Any]])
        let formats = renders.compactMap { $0["format"] as? String }
        #expect(formats.contains("settings.py") && formats.contains("limits.conf") && formats.contains("systemd/omero-web.service"))
        let limits = try #require(renders.first { $0["format"] as? String == "limits.conf" })
        #expect(limits["install"] as? String == "/etc/security/limits.d/90-corsd-omero-prod.conf")
        #expect((limits["etag"] as? String)?.hasPrefix("\"") == true)
        #expect(limits["size"] as? Int ?? 0 > 0)
        #expect(first.json["revision"] as? Int == 1)

        #expect(await put(api) { $0["description"] = "only words" } == 200)
        let described = await api.call("GET", "/api/v1/deployments/omero-prod/renders")
        #expect(described.field("etag") == etag, "a description edit changes no file")
        #expect(described.json["revision"] as? Int == 2)
        #expect(await api.call("GET", "/api/v1/deployments/omero-prod/renders", headers: ["If-None-Match": etag]).status == 304)

        #expect(await put(api) { $0["limits"] = [["domain": "omero-web", "type": "-", "item": "nofile", "value": 131072]] } == 200)
        let raised = await api.call("GET", "/api/v1/deployments/omero-prod/renders")
        #expect(raised.field("etag") != etag)
        let after = try #require(raised.json["renders"] as? [[String: Any]])
        let changed = Set(zip(renders, after).filter { ($0.0["etag"] as? String) != ($0.1["etag"] as? String) }.compactMap { $0.1["format"] as? String })
        #expect(changed.contains("limits.conf") && changed.contains("systemd/omero-web.service"))
        #expect(!changed.contains("settings.py") && !changed.contains("omero-web-config.sh"), "a limits edit leaves the CORS files alone: \(changed)")
    }

    @Test func aLongPollIsWokenByAChangeToAFile() async throws {
        let api = try await TestAPI()
        #expect(await put(api) { _ in } == 201)
        let etag = try #require(await api.call("GET", "/api/v1/deployments/omero-prod/renders").field("etag"))
        let poll = Task { await api.call("GET", "/api/v1/deployments/omero-prod/renders?wait=60s", headers: ["If-None-Match": etag]) }
        try await parked(api, 1)
        #expect(await put(api) { $0["description"] = "no file changes" } == 200)
        try await parked(api, 1)  // woken, found the same set, parked again
        #expect(await put(api) { $0["cors"] = ["allowed_origins": ["https://other.example.org"]] } == 200)
        let reply = await poll.value
        #expect(reply.status == 200)
        #expect(reply.field("etag") != etag)
        #expect(api.watch.waiting == 0)
    }

    @Test func aLongPollEndsWith304WhenTheWaitIsOver() async throws {
        let api = try await TestAPI()
        #expect(await put(api) { _ in } == 201)
        let etag = try #require(await api.call("GET", "/api/v1/deployments/omero-prod/renders").field("etag"))
        let reply = await api.call("GET", "/api/v1/deployments/omero-prod/renders?wait=1", headers: ["If-None-Match": etag])
        #expect(reply.status == 304)
        #expect(reply.field("etag") == etag)
        #expect(await api.call("GET", "/api/v1/deployments/omero-prod/renders?wait=1", headers: ["If-None-Match": "W/\"set-old\""]).status == 200,
                "a stale tag is answered at once")
        let started = ContinuousClock.now
        #expect(await api.call("GET", "/api/v1/deployments/omero-prod/renders?wait=300", headers: ["If-None-Match": "*"]).status == 304)
        #expect(ContinuousClock.now - started < .seconds(60), "`*` is answered at once, not held for the wait")
    }

    @Test func aDeploymentCanBeLongPolledByItsRevision() async throws {
        let api = try await TestAPI()
        #expect(await put(api) { _ in } == 201)
        let etag = try #require(await api.call("GET", "/api/v1/deployments/omero-prod").field("etag"))
        let poll = Task { await api.call("GET", "/api/v1/deployments/omero-prod?wait=60", headers: ["If-None-Match": etag]) }
        try await parked(api, 1)
        #expect(await put(api) { $0["description"] = "any edit is a new revision" } == 200)
        let reply = await poll.value
        #expect(reply.status == 200)
        #expect(reply.json["revision"] as? Int == 2)
        #expect(await api.call("GET", "/api/v1/deployments/omero-prod?wait=soon").issues == ["wait range"])
    }

    @Test(arguments: ["301s", "6m", "-1", "1h", "soon", "1.5s", ""])
    func aBadWaitIsAFieldError(_ wait: String) async throws {
        let api = try await TestAPI()
        #expect(await put(api) { _ in } == 201)
        let reply = await api.call("GET", "/api/v1/deployments/omero-prod/renders?wait=\(wait)")
        #expect(reply.status == 400)
        #expect(reply.issues == ["wait range"])
    }
}

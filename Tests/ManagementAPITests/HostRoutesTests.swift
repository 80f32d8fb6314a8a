import Foundation
import Testing

/// Host reports: in process over a real (in-memory) store.
@Suite struct HostRoutesTests {
    let seed = #"{"upstream":"http://omero-web.internal:4080","cors":{"allowed_origins":["https://viewer.example.org"]}}"#

    func currentETags(_ api: TestAPI, _ name: String = "omero-prod") async -> [String: String] {
        let renders = await api.call("GET", "/api/v1/deployments/\(name)/renders").json["renders"] as? [[String: Any]] ?? []
        return Dictionary(uniqueKeysWithValues: renders.compactMap { r in (r["etag"] as? String).map { (r["format"] as? String ?? "", $0) } })
    }

    func report(_ applied: [String: String], result: String = "ok", error: String? = nil) -> String {
        var body: [String: Any] = ["applied": applied, "revision": 1, "result": result, "version": "0.6.0"]
        if let error { body["error"] = error }
        return String(decoding: try! JSONSerialization.data(withJSONObject: body), as: UTF8.self)
    }

    @Test func hostsReportAndAreListedInSyncOrNot() async throws {
        let api = try await TestAPI()
        #expect(await api.call("PUT", "/api/v1/deployments/omero-prod", json: seed).status == 201)
        let agent = await api.token("web1", "agent:omero-prod")
        let etags = await currentETags(api)
        let limits = try #require(etags["limits.conf"])
        let ok = await api.call("PUT", "/api/v1/deployments/omero-prod/hosts/web1.example.org", json: report(["limits.conf": limits]), token: agent)
        #expect(ok.status == 200)
        #expect(ok.json["in_sync"] as? Bool == true)
        #expect(ok.json["last_seen"] is String)
        let stale = await api.call("PUT", "/api/v1/deployments/omero-prod/hosts/web2", json: report(["limits.conf": "\"old\""]), token: agent)
        #expect(stale.json["in_sync"] as? Bool == false)
        let failed = await api.call("PUT", "/api/v1/deployments/omero-prod/hosts/web3", json: report(["limits.conf": limits], result: "error", error: "check failed: python3 -m py_compile"), token: agent)
        #expect(failed.json["in_sync"] as? Bool == false, "a failed cycle is not in sync")

        let list = await api.call("GET", "/api/v1/deployments/omero-prod/hosts", token: agent)
        let hosts = try #require(list.json["hosts"] as? [[String: Any]])
        #expect(hosts.map { $0["host"] as? String } == ["web1.example.org", "web2", "web3"])
        #expect(hosts.map { $0["in_sync"] as? Bool } == [true, false, false])
        #expect(hosts[2]["error"] as? String == "check failed: python3 -m py_compile")

        // An edit that changes limits.conf puts web1 out of sync.
        #expect(await api.call("PUT", "/api/v1/deployments/omero-prod", json: #"{"upstream":"http://omero-web.internal:4080","cors":{"allowed_origins":["https://viewer.example.org"]},"limits":[{"domain":"omero-web","type":"-","item":"nofile","value":131072}]}"#).status == 200)
        let after = await api.call("GET", "/api/v1/deployments/omero-prod/hosts").json["hosts"] as? [[String: Any]]
        #expect(after?.first?["in_sync"] as? Bool == false)
    }

    @Test func anAgentReportsOnlyForItsOwnDeployment() async throws {
        let api = try await TestAPI()
        #expect(await api.call("PUT", "/api/v1/deployments/omero-prod", json: seed).status == 201)
        #expect(await api.call("PUT", "/api/v1/deployments/omero-test", json: seed).status == 201)
        let agent = await api.token("web1", "agent:omero-prod")
        let reader = await api.token("dash", "read")
        #expect(await api.call("PUT", "/api/v1/deployments/omero-test/hosts/web1", json: report([:]), token: agent).status == 403)
        #expect(await api.call("PUT", "/api/v1/deployments/omero-prod/hosts/web1", json: report([:]), token: reader).status == 403, "read tokens do not write")
        #expect(await api.call("PUT", "/api/v1/deployments/nothing/hosts/web1", json: report([:])).status == 404)
        #expect(await api.call("GET", "/api/v1/hosts", token: agent).status == 403)
    }

    @Test func badReportsAreFieldErrors() async throws {
        let api = try await TestAPI()
        #expect(await api.call("PUT", "/api/v1/deployments/omero-prod", json: seed).status == 201)
        #expect(await api.call("PUT", "/api/v1/deployments/omero-prod/hosts/-bad", json: report([:])).issues == ["host host_name"])
        #expect(await api.call("PUT", "/api/v1/deployments/omero-prod/hosts/web1", json: #"{"applied":{},"result":"fine"}"#).issues == ["result enum"])
        #expect(await api.call("PUT", "/api/v1/deployments/omero-prod/hosts/web1", json: #"{"result":"ok"}"#).issues == ["applied required"])
        #expect(await api.call("PUT", "/api/v1/deployments/omero-prod/hosts/web1", json: #"{"applied":{"a":1},"result":"ok"}"#).issues == ["applied.a type"])
        #expect(await api.call("PUT", "/api/v1/deployments/omero-prod/hosts/web1", json: #"{"applied":{},"result":"ok","extra":1}"#).issues == ["extra unknown_field"])
        #expect(await api.call("PUT", "/api/v1/deployments/omero-prod/hosts/web1", json: #"{"applied":{},"result":"ok","version":null}"#).issues == ["version type"])
        #expect(await api.call("PUT", "/api/v1/deployments/omero-prod/hosts/web1", json: #"{"applied":{},"result":"ok","revision":null}"#).issues == ["revision type"])
    }

    @Test func staleHostsAreThoseNotSeenWithinTheWindow() async throws {
        let api = try await TestAPI()
        #expect(await api.call("PUT", "/api/v1/deployments/omero-prod", json: seed).status == 201)
        #expect(await api.call("PUT", "/api/v1/deployments/omero-prod/hosts/web1", json: report([:])).status == 200)
        let none = await api.call("GET", "/api/v1/hosts?stale=10m").json["hosts"] as? [Any]
        #expect(none?.count == 0, "just seen")
        let all = await api.call("GET", "/api/v1/hosts?stale=0s").json["hosts"] as? [[String: Any]]
        #expect(all?.map { $0["host"] as? String } == ["web1"])
        #expect(await api.call("GET", "/api/v1/hosts?stale=soon").issues == ["stale range"])
    }
}

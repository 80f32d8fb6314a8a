import Foundation
import HTTPCore
import HTTPRouting
import Logging
import ManagementAPI
import PolicyStore
import Testing

@Suite struct HealthRoutesTests {
    @Test func readinessFollowsTheDatabaseAndNeedsNoToken() async throws {
        let api = try await TestAPI()
        #expect(await api.call("GET", "/readyz", token: nil).status == 200)
        #expect(await api.call("GET", "/healthz", token: nil).status == 200)
        #expect(await api.call("GET", "/metrics", token: nil).text.contains("corsd_build_info"))
    }

    @Test func notReadyIs503WithTheReasonButStillAlive() async {
        var router = Router(logger: Logger(label: "test"))
        struct Down: Error, CustomStringConvertible { var description: String { "database is locked" } }
        ManagementAPI.installHealth(on: &router, ready: { throw Down() })
        let request = { (path: String) in
            HTTPServerRequest(head: .init(method: .get, scheme: nil, authority: "x", path: path), body: [], remoteAddress: nil)
        }
        let ready = await router.respond(to: request("/readyz"))
        #expect(ready.status.code == 503)
        #expect(String(decoding: ready.body, as: UTF8.self).contains("database is locked"))
        #expect(ready.headerFields[.retryAfter] == "1")
        #expect(await router.respond(to: request("/healthz")).status.code == 200, "liveness does not look at the database")
    }
}

@Suite struct TokenRoutesTests {
    @Test func expiresAtMustBeAFutureRFC3339TimeNeverNull() async throws {
        let api = try await TestAPI()
        let null = await api.call("POST", "/api/v1/tokens", json: #"{"name":"a","scope":"read","expires_at":null}"#)
        #expect(null.status == 400)
        #expect(null.issues == ["expires_at type"])
        let past = await api.call("POST", "/api/v1/tokens", json: #"{"name":"b","scope":"read","expires_at":"2001-01-01T00:00:00Z"}"#)
        #expect(past.status == 400)
        #expect(past.issues == ["expires_at future"])
        let bad = await api.call("POST", "/api/v1/tokens", json: #"{"name":"c","scope":"read","expires_at":"tomorrow"}"#)
        #expect(bad.issues == ["expires_at rfc3339"])
        let good = await api.call("POST", "/api/v1/tokens", json: #"{"name":"d","scope":"read","expires_at":"2099-01-01T00:00:00Z"}"#)
        #expect(good.status == 201)
        #expect(good.json["expires_at"] as? String == "2099-01-01T00:00:00.000Z")
    }
}

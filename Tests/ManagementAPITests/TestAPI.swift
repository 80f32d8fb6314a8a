import Foundation
import HTTPCore
import HTTPRouting
import HTTPTypes
import Logging
import ManagementAPI
import Observability
import PolicyStore

/// The management API in process: the real router, routes and auth over a real (in-memory)
/// SQLite database; only the socket is left out. Requests go through `Router.respond(to:)`.
struct TestAPI {
    static let admin = "test-admin-secret"
    let router: Router
    let database: AppDatabase
    let store: PolicyStore
    let watch: DeploymentWatch

    init() async throws {
        database = try AppDatabase.inMemory()
        let watch = DeploymentWatch()
        self.watch = watch
        store = database.policies { watch.changed($0.name) }
        let tokens = try database.tokens()
        _ = try await tokens.bootstrap(environmentSecret: Self.admin)
        var router = Router(logger: Logger(label: "test"))
        ManagementAPI.installHealth(on: &router, ready: { [database] in try await database.checkReady() })
        CorsdMetrics().install(on: &router) {
            CorsdMetrics.Snapshot(connections: ConnectionCounts(open: 0, handling: 0), tileCacheBytes: 0, revisions: [:], version: "test")
        }
        ManagementAPI(store: store, tokens: tokens, hosts: database.hosts(), watch: watch, logger: Logger(label: "test")).install(on: &router)
        self.router = router
    }

    struct Reply {
        var response: Response
        var status: Int { response.status.code }
        var text: String { String(decoding: response.body, as: UTF8.self) }
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:] }
        func field(_ name: String) -> String? { HTTPField.Name(name).flatMap { response.headerFields[$0] } }
        /// The (field, rule) pairs of a problem's errors.
        var issues: [String] { (json["errors"] as? [[String: Any]] ?? []).map { "\($0["field"] ?? "") \($0["rule"] ?? "")" } }
    }

    @discardableResult
    func call(_ method: String, _ target: String, json: String? = nil, contentType: String = "application/json",
              headers: [String: String] = [:], token: String? = TestAPI.admin, body: [UInt8]? = nil) async -> Reply {
        var fields = HTTPFields()
        if let token { fields[.authorization] = "Bearer \(token)" }
        for (k, v) in headers { if let name = HTTPField.Name(k) { fields[name] = v } }
        if json != nil || body != nil { fields[.contentType] = contentType }
        let head = HTTPRequest(method: HTTPRequest.Method(method) ?? .get, scheme: nil, authority: "127.0.0.1", path: target, headerFields: fields)
        let request = HTTPServerRequest(head: head, body: body ?? Array((json ?? "").utf8), remoteAddress: try? SocketAddress(parsing: "127.0.0.1:40000"))
        return Reply(response: await router.respond(to: request))
    }

    /// Creates a token and returns its secret.
    func token(_ name: String, _ scope: String) async -> String {
        await call("POST", "/api/v1/tokens", json: #"{"name":"\#(name)","scope":"\#(scope)"}"#).json["secret"] as? String ?? ""
    }

    static let seed = #"{"name":"omero-prod","upstream":"http://omero-web.internal:4080","cors":{"allowed_origins":["https://viewer.example.org:443"]}}"#
}

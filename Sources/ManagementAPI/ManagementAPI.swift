import HTTPCore
import HTTPRouting
import HTTPTypes
import Logging
import PolicyStore
import TileProxy

/// The `/api/v1` management API, as described in `openapi.yaml`: one routes type per concept
/// (deployments, origins, revisions, renders, the tile cache, audit, tokens), each a set of
/// `async throws` functions that return responses, wrapped by `Auth` for the token's scope.
public struct ManagementAPI: Sendable {
    public static let prefix = "/api/v1"

    let store: PolicyStore
    let tokens: TokenStore
    let tileCache: TileCache?
    let watch: DeploymentWatch
    let hosts: HostStore
    let requireClientCertificate: Bool
    let logger: Logger

    /// - Parameter watch: told of every change by the store's `onChange` (long-polls wait on it).
    /// - Parameter requireClientCertificate: mTLS: every API request must come over a TLS
    ///   connection with a verified client certificate (as well as a token).
    public init(store: PolicyStore, tokens: TokenStore, hosts: HostStore, tileCache: TileCache? = nil, watch: DeploymentWatch = DeploymentWatch(),
                requireClientCertificate: Bool = false, logger: Logger) {
        self.requireClientCertificate = requireClientCertificate
        self.store = store
        self.hosts = hosts
        self.tokens = tokens
        self.tileCache = tileCache
        self.watch = watch
        self.logger = logger
    }

    /// `GET /healthz`: liveness (the process answers), and `GET /readyz`: readiness (`ready`
    /// throws nothing: the database answers and its migrations are current). No authentication.
    public static func installHealth(on router: inout Router, ready: @escaping @Sendable () async throws -> Void = {}) {
        router.add(.get, "/healthz") { _, _ in try .json(["status": "ok"]) }
        router.add(.get, "/readyz") { _, _ in
            do {
                try await ready()
            } catch {
                var fields = HTTPFields()
                fields[.retryAfter] = "1"
                throw Problem(status: .serviceUnavailable, detail: "not ready: \(error)", headerFields: fields)
            }
            return try .json(["status": "ready"])
        }
    }

    public func install(on router: inout Router) {
        var routes = APIRoutes(router: router, auth: Auth(tokens: tokens, requireClientCertificate: requireClientCertificate))
        DeploymentRoutes(store: store, watch: watch).install(on: &routes)
        OriginRoutes(store: store).install(on: &routes)
        RevisionRoutes(store: store).install(on: &routes)
        RenderRoutes(store: store, watch: watch).install(on: &routes)
        CacheRoutes(store: store, cache: tileCache, logger: logger).install(on: &routes)
        AuditRoutes(store: store).install(on: &routes)
        TokenRoutes(tokens: tokens).install(on: &routes)
        HostRoutes(store: store, hosts: hosts).install(on: &routes)
        router = routes.router
    }
}

/// Registers `/api/v1` routes, each behind `Auth` with the permission it needs.
struct APIRoutes {
    var router: Router
    let auth: Auth

    mutating func add(_ method: HTTPRequest.Method, _ path: String, _ permission: Permission, _ handler: @escaping APIHandler) {
        router.add(method, ManagementAPI.prefix + path, auth.wrap(permission, handler))
    }
}

import CorsdBase
import CorsdModel
import HTTPCore
import HTTPRouting
import HTTPTypes
import PolicyStore
import Rendering
import Synchronization

/// `/deployments/{name}/render/{format}`: the host files, with content-hash ETags;
/// `/deployments/{name}/renders`: all of them with one ETag for the set, long-polled by hosts;
/// and `/deployments/{name}/cors/check`: what the tile proxy would do with a request.
struct RenderRoutes: Sendable {
    let store: PolicyStore
    let watch: DeploymentWatch
    private let listings = ListingCache()

    init(store: PolicyStore, watch: DeploymentWatch) {
        self.store = store
        self.watch = watch
    }

    func install(on routes: inout APIRoutes) {
        routes.add(.get, "/deployments/{name}/renders", .readDeployment) { request, context, _ in try await renders(request, context) }
        routes.add(.get, "/deployments/{name}/render/{format}", .readDeployment) { request, context, _ in
            try await render(request, context, format: try context.parameters.require("format"))
        }
        routes.add(.get, "/deployments/{name}/render/systemd/{unit}", .readDeployment) { request, context, _ in
            try await render(request, context, format: "systemd/" + (try context.parameters.require("unit")))
        }
        routes.add(.post, "/deployments/{name}/cors/check", .readDeployment) { request, context, _ in try await checkCORS(request, context) }
    }

    func render(_ request: HTTPServerRequest, _ context: RequestContext, format formatName: String) async throws -> Response {
        let name = try context.deploymentName()
        let query = QueryString(request.query)
        try query.allowOnly(["dialect"])
        let dialect = try query.get("dialect").map { text throws(FieldIssue) in try SettingsDialect.parse(text, field: "dialect") }
        guard let format = RenderFormat(formatName) else {
            throw Problem(status: .notFound, detail: "no format '\(formatName)'; formats: \(RenderFormat.names.joined(separator: ", "))")
        }
        let stored = try await store.require(name)
        let rendered: Rendered
        do {
            rendered = try format.render(RenderInput(deployment: stored.deployment), dialect: dialect)
        } catch {
            if error.rule == .unknownUnit { throw Problem(status: .notFound, detail: error.description) }
            throw Problem(status: .unprocessableContent, detail: "cannot render \(formatName): \(error.message)", errors: [error])
        }
        let etag = rendered.etag
        if EntityTag.ifNoneMatch(request.head.headerFields[.ifNoneMatch], matches: etag) { return .notModified(etag: etag) }
        var fields = HTTPFields()
        fields[.eTag] = etag
        fields[.contentType] = rendered.contentType
        return Response(status: .ok, headerFields: fields, body: Array(rendered.text.utf8))
    }

    private struct Listing: Encodable {
        var deployment: String
        /// The revision these renders come from (an edit that changes no file changes this
        /// and not the set's ETag, which is why that ETag is weak).
        var revision: Int
        var etag: String
        var renders: [RenderSet.Entry]
    }

    /// Every render's format, install hint, ETag and size, under one weak ETag for the set.
    /// With `?wait=DURATION` and an `If-None-Match` naming the current set, the request is held
    /// until the set changes (200 with the new listing) or the wait ends (304): a parked task,
    /// no thread. An edit that changes no render (a description) does not end the wait.
    func renders(_ request: HTTPServerRequest, _ context: RequestContext) async throws -> Response {
        let name = try context.deploymentName()
        let query = QueryString(request.query)
        try query.allowOnly(["wait"])
        return try await watch.respond(name, ifNoneMatch: request.head.headerFields[.ifNoneMatch], waitSeconds: try DeploymentWatch.waitSeconds(query)) { generation in
            let listing = try await listings.listing(name, generation: generation) {
                let stored = try await store.require(name)
                let set = RenderSet(stored.deployment)
                let etag = "W/" + set.etag
                var body = try Response.json(Listing(deployment: name, revision: stored.revision, etag: etag, renders: set.entries))
                body.headerFields[.eTag] = etag
                return ListingCache.Encoded(etag: etag, body: body)
            }
            return (listing.etag, listing.body)
        }
    }

    /// The last listing of each deployment, encoded, with the watch generation it was read
    /// at. Single-flight: the thousands of waiters one change wakes share one read, one
    /// rendering and one encoding (the first computes, the others await its task).
    final class ListingCache: Sendable {
        struct Encoded: Sendable {
            var etag: String
            var body: Response
        }
        private let entries = Mutex<[String: (generation: UInt64, task: Task<Encoded, any Error>)]>([:])

        func listing(_ name: String, generation: UInt64, compute: @escaping @Sendable () async throws -> Encoded) async throws -> Encoded {
            let task = entries.withLock { e -> Task<Encoded, any Error> in
                if let cached = e[name], cached.generation == generation { return cached.task }
                let task = Task { try await compute() }
                e[name] = (generation, task)
                return task
            }
            do {
                return try await task.value
            } catch {
                entries.withLock { e in if e[name]?.generation == generation { e[name] = nil } }  // a failure is not kept
                throw error
            }
        }
    }

    enum CheckKeys: String, CodingKey, CaseIterable {
        case origin, method
        case requestMethod = "request_method"
        case requestHeaders = "request_headers"
        case requestPrivateNetwork = "request_private_network"
    }

    private struct Explanation: Encodable {
        struct Field: Encodable { var name: String; var value: String }
        var action: String
        var rule: String
        var originAllowed: Bool?
        var mode: CORSMode
        var headers: [Field]

        enum CodingKeys: String, CodingKey {
            case action, rule, mode, headers
            case originAllowed = "origin_allowed"
        }

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(action, forKey: .action)
            try c.encode(rule, forKey: .rule)
            try c.encode(originAllowed, forKey: .originAllowed)  // null when there was no Origin
            try c.encode(mode, forKey: .mode)
            try c.encode(headers, forKey: .headers)
        }
    }

    /// What the tile proxy would do with a request from `origin`: the action, the rule that
    /// decided and the exact headers.
    func checkCORS(_ request: HTTPServerRequest, _ context: RequestContext) async throws -> Response {
        let name = try context.deploymentName()
        var body = try InputObject<CheckKeys>(try request.json())
        let method = try body.string(.method, nullable: false) ?? "GET"
        guard isToken(method) else { throw Problem.field("method", .token, "must be an HTTP method such as GET") }
        let cors = CORSRequest(origin: try body.string(.origin), method: method, requestMethod: try body.string(.requestMethod),
                               requestHeaders: try body.string(.requestHeaders), requestPrivateNetwork: try body.string(.requestPrivateNetwork))
        let stored = try await store.require(name)
        let decision = CORSEngine(stored.deployment.cors).decide(cors)
        return try .json(Explanation(action: decision.action.rawValue, rule: decision.rule.description, originAllowed: decision.originAllowed,
                                     mode: stored.deployment.cors.mode, headers: decision.headers.map { .init(name: $0.name.rawName, value: $0.value) }))
    }
}

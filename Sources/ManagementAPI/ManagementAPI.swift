import CORSPolicy
import CorsdModel
import Dispatch
import Foundation
import HTTPCore
import HTTPTypes
import Logging
import PolicyStore
import Rendering
import TileProxy

/// The `/api/v1` management API: deployments, origins, revisions, audit and tokens, as
/// described in `openapi.yaml`.
public final class ManagementAPI: Sendable {
    public static let prefix = "/api/v1"

    let store: PolicyStore
    let tokens: TokenStore
    let logger: Logger
    let tileCache: TileCache?
    /// Token changes use GRDB's blocking API; they run here, never on the connection queues.
    private let tokenQueue = DispatchQueue(label: "corsd.tokens")

    public init(store: PolicyStore, tokens: TokenStore, tileCache: TileCache? = nil, logger: Logger) {
        self.store = store
        self.tokens = tokens
        self.tileCache = tileCache
        self.logger = logger
    }

    /// `GET /healthz`: liveness, no authentication.
    public static func installHealth(on router: inout Router) {
        router.add(.get, "/healthz") { _, _, writer in writer.respond(json: ["status": "ok"]) }
    }

    private typealias Action = @Sendable (ManagementAPI, HTTPServerRequest, PathParameters, HTTPResponseWriter, Actor) async throws -> Void

    public func install(on router: inout Router) {
        func route(_ method: HTTPRequest.Method, _ path: String, _ permission: @escaping @Sendable (PathParameters) -> Permission, _ action: @escaping Action) {
            router.add(method, Self.prefix + path) { [self] request, parameters, writer in
                guarded(request, writer, permission(parameters)) { actor in try await action(self, request, parameters, writer, actor) }
            }
        }
        let read: @Sendable (PathParameters) -> Permission = { _ in .read }
        let admin: @Sendable (PathParameters) -> Permission = { _ in .admin }
        route(.get, "/deployments", read) { api, _, _, w, _ in try await api.listDeployments(w) }
        route(.post, "/deployments", admin) { api, r, _, w, a in try await api.createDeployment(r, w, a) }
        route(.get, "/deployments/{name}", { .readDeployment($0["name"]!) }) { api, r, p, w, _ in try await api.getDeployment(p["name"]!, r, w) }
        route(.put, "/deployments/{name}", admin) { api, r, p, w, a in try await api.putDeployment(p["name"]!, r, w, a) }
        route(.patch, "/deployments/{name}", admin) { api, r, p, w, a in try await api.patchDeployment(p["name"]!, r, w, a) }
        route(.delete, "/deployments/{name}", admin) { api, r, p, w, a in try await api.deleteDeployment(p["name"]!, r, w, a) }
        route(.post, "/deployments/{name}/origins", admin) { api, r, p, w, a in try await api.addOrigin(p["name"]!, r, w, a) }
        route(.delete, "/deployments/{name}/origins", admin) { api, r, p, w, a in try await api.removeOrigin(p["name"]!, r, w, a) }
        route(.get, "/deployments/{name}/revisions", read) { api, _, p, w, _ in try await api.listRevisions(p["name"]!, w) }
        route(.get, "/deployments/{name}/revisions/{n}", read) { api, _, p, w, _ in try await api.getRevision(p["name"]!, p["n"]!, w) }
        route(.post, "/deployments/{name}/revisions/{n}/restore", admin) { api, r, p, w, a in try await api.restoreRevision(p["name"]!, p["n"]!, r, w, a) }
        let readOne: @Sendable (PathParameters) -> Permission = { .readDeployment($0["name"]!) }
        route(.get, "/deployments/{name}/render/{format}", readOne) { api, r, p, w, _ in try await api.render(p["name"]!, p["format"]!, r, w) }
        route(.get, "/deployments/{name}/render/systemd/{unit}", readOne) { api, r, p, w, _ in try await api.render(p["name"]!, "systemd/" + p["unit"]!, r, w) }
        route(.post, "/deployments/{name}/cors/check", readOne) { api, r, p, w, _ in try await api.checkCORS(p["name"]!, r, w) }
        route(.delete, "/deployments/{name}/cache", admin) { api, r, p, w, _ in try await api.purgeCache(p["name"]!, r, w) }
        route(.get, "/tiles/cache", read) { api, _, _, w, _ in w.respond(json: api.tileCache?.counters ?? TileCache.Counters()) }
        route(.get, "/audit", read) { api, r, _, w, _ in try await api.listAudit(r, w) }
        route(.get, "/tokens", admin) { api, _, _, w, _ in w.respond(json: ["tokens": api.tokens.list()]) }
        route(.post, "/tokens", admin) { api, r, _, w, a in try await api.createToken(r, w, a) }
        route(.delete, "/tokens/{id}", admin) { api, _, p, w, a in try await api.revokeToken(p["id"]!, w, a) }
    }

    // MARK: Auth and error mapping

    /// Checks the bearer token, then runs `body` as a task; store and validation errors become
    /// problem+json responses.
    private func guarded(_ request: HTTPServerRequest, _ writer: HTTPResponseWriter, _ permission: Permission,
                         _ body: @escaping @Sendable (Actor) async throws -> Void) {
        let header = request.head.headerFields[.authorization] ?? ""
        guard header.count > 7, header.prefix(7).lowercased() == "bearer " else {
            var fields = HTTPFields()
            fields[.wwwAuthenticate] = "Bearer realm=\"corsd\""
            writer.respond(Problem(status: .unauthorized, detail: "send Authorization: Bearer <token>"), extraFields: fields)
            return
        }
        guard let (token, scope) = tokens.authenticate(String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)) else {
            var fields = HTTPFields()
            fields[.wwwAuthenticate] = "Bearer realm=\"corsd\", error=\"invalid_token\""
            writer.respond(Problem(status: .unauthorized, detail: "the token is not valid"), extraFields: fields)
            return
        }
        guard permission.allows(scope) else {
            writer.respond(Problem(status: .forbidden, detail: "token '\(token.name)' (scope \(scope)) may not do this"))
            return
        }
        let actor = Actor(tokenName: token.name, client: request.remoteAddress?.host ?? "unknown")
        let logger = self.logger
        Task {
            do {
                try await body(actor)
            } catch let problem as Problem {
                writer.respond(problem)
            } catch let error as StoreError {
                switch error {
                case .notFound: writer.respond(Problem(status: .notFound, detail: error.description))
                case .alreadyExists: writer.respond(Problem(status: .conflict, detail: error.description))
                case .revisionMismatch(let current):
                    var fields = HTTPFields()
                    fields[.eTag] = ETag.of(revision: current)
                    writer.respond(Problem(status: .preconditionFailed, detail: "If-Match does not name the current revision (\(current))"), extraFields: fields)
                case .invalid(let failure): writer.respond(Problem.invalid(failure.issues))
                }
            } catch let failure as ValidationFailure {
                writer.respond(Problem.invalid(failure.issues))
            } catch let error as TokenError {
                switch error {
                case .invalidName: writer.respond(Problem.field("name", "token_name", error.description))
                case .invalidScope: writer.respond(Problem.field("scope", "scope", error.description))
                case .nameTaken: writer.respond(Problem(status: .conflict, detail: error.description))
                case .notFound: writer.respond(Problem(status: .notFound, detail: error.description))
                }
            } catch {
                logger.error("request failed", metadata: ["error": "\(error)", "path": "\(request.path)"])
                writer.respond(Problem(status: .internalServerError, detail: "internal error; see the server log"))
            }
        }
    }

    /// The request body as JSON, or a 415/400 problem.
    private func jsonBody(_ request: HTTPServerRequest, allowMergePatch: Bool = false) throws -> JSONValue {
        let type = (request.head.headerFields[.contentType] ?? "").split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        let accepted = allowMergePatch ? ["application/json", "application/merge-patch+json"] : ["application/json"]
        guard accepted.contains(type) else {
            throw Problem(status: .unsupportedMediaType, detail: "Content-Type must be \(accepted.joined(separator: " or "))")
        }
        switch JSONValue.parse(request.body) {
        case .success(let json): return json
        case .failure(let error): throw Problem.field("", error.rule.rawValue, "the body is not acceptable JSON: \(error)")
        }
    }

    private func deploymentName(_ raw: String) throws -> String {
        // Path segments are raw; a valid slug has nothing to decode.
        guard DeploymentValidator.isValidName(raw) else {
            throw Problem(status: .notFound, detail: "no deployment named '\(raw.removingPercentEncoding ?? raw)'")
        }
        return raw
    }

    // MARK: Deployments

    /// A deployment as the API shows it: its fields plus bookkeeping and warnings.
    static func body(_ stored: StoredDeployment) throws -> JSONValue {
        var json = try JSONValue(encoding: stored.deployment)
        let warnings = try JSONValue(encoding: DeploymentValidator.warnings(for: stored.deployment))
        json = json.merged(with: .object([
            "revision": .number(Double(stored.revision)),
            "created_at": .string(stored.createdAt),
            "updated_at": .string(stored.updatedAt),
        ]))
        if case .object(var members) = json {
            members["warnings"] = warnings
            json = .object(members)
        }
        return json
    }

    private func respond(_ stored: StoredDeployment, _ writer: HTTPResponseWriter, status: HTTPResponse.Status = .ok, location: Bool = false) throws {
        var fields = HTTPFields()
        fields[.eTag] = ETag.of(revision: stored.revision)
        if location { fields[.location] = "\(Self.prefix)/deployments/\(stored.deployment.name)" }
        writer.respond(json: try Self.body(stored), status: status, extraFields: fields)
    }

    private func listDeployments(_ w: HTTPResponseWriter) async throws {
        let all = try await store.list()
        w.respond(json: JSONValue.object(["deployments": .array(try all.map(Self.body))]))
    }

    private func createDeployment(_ r: HTTPServerRequest, _ w: HTTPResponseWriter, _ actor: Actor) async throws {
        let validated = try DeploymentValidator.validate(try jsonBody(r)).get()
        let stored = try await store.create(validated.deployment, actor: actor)
        try respond(stored, w, status: .created, location: true)
    }

    private func getDeployment(_ raw: String, _ r: HTTPServerRequest, _ w: HTTPResponseWriter) async throws {
        let name = try deploymentName(raw)
        guard let stored = try await store.get(name) else { throw StoreError.notFound("deployment '\(name)'") }
        let etag = ETag.of(revision: stored.revision)
        if EntityTag.ifNoneMatch(r.head.headerFields[.ifNoneMatch], matches: etag) {
            var fields = HTTPFields()
            fields[.eTag] = etag
            w.respond(HTTPResponse(status: .notModified, headerFields: fields))
            return
        }
        try respond(stored, w)
    }

    /// Runs a read-modify-write honouring `If-Match`; `build` maps the current deployment (nil
    /// if none) to the new one, validated.
    private func modify(_ name: String, _ r: HTTPServerRequest, _ actor: Actor, requireExisting: Bool,
                        build: @escaping @Sendable (Deployment?) throws -> Deployment?) async throws -> (StoredDeployment, created: Bool) {
        let ifMatch = IfMatch(r.head.headerFields[.ifMatch])
        let required = try ifMatch.requiredRevision()
        let mustExist = requireExisting || ifMatch == .any
        let result = try await store.modify(name, ifMatch: required, actor: actor) { current in
            if current == nil && mustExist { throw StoreError.notFound("deployment '\(name)'") }
            return try build(current)
        }
        return (result.stored!, result.created)
    }

    private func putDeployment(_ raw: String, _ r: HTTPServerRequest, _ w: HTTPResponseWriter, _ actor: Actor) async throws {
        let json = try jsonBody(r)
        let validated = try DeploymentValidator.validate(json, pathName: raw).get()
        let (stored, created) = try await modify(validated.deployment.name, r, actor, requireExisting: false) { _ in validated.deployment }
        try respond(stored, w, status: created ? .created : .ok, location: created)
    }

    private func patchDeployment(_ raw: String, _ r: HTTPServerRequest, _ w: HTTPResponseWriter, _ actor: Actor) async throws {
        let name = try deploymentName(raw)
        let patch = try jsonBody(r, allowMergePatch: true)
        // A non-object merge patch would replace the whole deployment with a non-object.
        guard case .object = patch else { throw Problem.field("", "type", "a merge patch of a deployment must be a JSON object") }
        let (stored, _) = try await modify(name, r, actor, requireExisting: true) { current in
            let merged = try JSONValue(encoding: current!).merged(with: patch)
            return try DeploymentValidator.validate(merged, pathName: name).get().deployment
        }
        try respond(stored, w)
    }

    private func deleteDeployment(_ raw: String, _ r: HTTPServerRequest, _ w: HTTPResponseWriter, _ actor: Actor) async throws {
        let name = try deploymentName(raw)
        try await store.delete(name, ifMatch: try IfMatch(r.head.headerFields[.ifMatch]).requiredRevision(), actor: actor)
        w.respond(HTTPResponse(status: .noContent))
    }

    private static func parseOrigin(_ text: String?, field: String) throws -> Origin {
        guard let text, !text.isEmpty else { throw Problem.field(field, "required", "is required") }
        do { return try Origin(parsing: text) } catch {
            throw Problem.field(field, "origin", "'\(text)' is not an origin: it \(error.description)")
        }
    }

    private func addOrigin(_ raw: String, _ r: HTTPServerRequest, _ w: HTTPResponseWriter, _ actor: Actor) async throws {
        let name = try deploymentName(raw)
        guard case .object(let members) = try jsonBody(r) else { throw Problem.field("", "type", "the body must be a JSON object {\"origin\": …}") }
        for key in members.keys where key != "origin" { throw Problem.field(key, "unknown_field", "is not a known field (known: origin)") }
        guard case .string(let text)? = members["origin"] else { throw Problem.field("origin", members["origin"] == nil ? "required" : "type", "must be a string such as https://viewer.example.org") }
        let origin = try Self.parseOrigin(text, field: "origin")
        let (stored, _) = try await modify(name, r, actor, requireExisting: true) { current in
            var d = current!
            if d.cors.allowedOrigins.contains(origin) { return nil }
            d.cors.allowedOrigins.append(origin)
            return d
        }
        try respond(stored, w)
    }

    private func removeOrigin(_ raw: String, _ r: HTTPServerRequest, _ w: HTTPResponseWriter, _ actor: Actor) async throws {
        let name = try deploymentName(raw)
        let query = QueryString(r.query)
        let origin = try Self.parseOrigin(query["origin"], field: "origin")
        let (stored, _) = try await modify(name, r, actor, requireExisting: true) { current in
            var d = current!
            guard let i = d.cors.allowedOrigins.firstIndex(of: origin) else { return nil }
            d.cors.allowedOrigins.remove(at: i)
            return d
        }
        try respond(stored, w)
    }

    /// Drops the deployment's cached tile responses (all, or `?image=ID`'s).
    private func purgeCache(_ raw: String, _ r: HTTPServerRequest, _ w: HTTPResponseWriter) async throws {
        let name = try deploymentName(raw)
        let query = QueryString(r.query)
        if query.isMalformed("image") { throw Problem.field("image", "percent_encoding", "is not valid percent-encoding") }
        let image = query["image"]
        if let image, image.isEmpty || !image.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) {
            throw Problem.field("image", "image_id", "must be an image, slide or dataset id such as 42")
        }
        guard try await store.get(name) != nil else { throw StoreError.notFound("deployment '\(name)'") }
        let purged = tileCache?.purge(deployment: name, imageID: image) ?? 0
        logger.info("tile cache purged", metadata: ["deployment": "\(name)", "image": "\(image ?? "*")", "entries": "\(purged)"])
        w.respond(json: ["purged": purged])
    }

    // MARK: Renders

    private func render(_ raw: String, _ formatText: String, _ r: HTTPServerRequest, _ w: HTTPResponseWriter) async throws {
        let name = try deploymentName(raw)
        let query = QueryString(r.query)
        for key in query.names where key != "dialect" {
            throw Problem.field(key, "unknown_parameter", "is not a known parameter (known: dialect)")
        }
        var dialect: SettingsDialect?
        if let text = query["dialect"] {
            guard let d = SettingsDialect(rawValue: text) else { throw Problem.field("dialect", "enum", "must be one of legacy, scheme, modern") }
            dialect = d
        }
        let decoded = formatText.removingPercentEncoding ?? formatText
        guard let format = RenderFormat(decoded) else {
            throw Problem(status: .notFound, detail: "no format '\(decoded)'; formats: \(RenderFormat.names.joined(separator: ", "))")
        }
        guard let stored = try await store.get(name) else { throw StoreError.notFound("deployment '\(name)'") }
        let rendered: Rendered
        do {
            rendered = try format.render(RenderInput(deployment: stored.deployment, revision: stored.revision), dialect: dialect)
        } catch {
            if error.rule == "unknown_unit" { throw Problem(status: .notFound, detail: error.description) }
            throw Problem(status: .unprocessableContent, detail: "cannot render \(decoded): \(error.message)",
                          errors: [.init(field: error.field, rule: error.rule, message: error.message)])
        }
        let etag = "\"\(rendered.sha256.prefix(32))\""
        var fields = HTTPFields()
        fields[.eTag] = etag
        if EntityTag.ifNoneMatch(r.head.headerFields[.ifNoneMatch], matches: etag) {
            w.respond(HTTPResponse(status: .notModified, headerFields: fields))
            return
        }
        fields[.contentType] = rendered.contentType
        w.respond(HTTPResponse(status: .ok, headerFields: fields), body: Array(rendered.text.utf8))
    }

    // MARK: CORS explain

    /// What the tile proxy would do with a request from `origin`: the action, the rule that
    /// decided and the exact headers.
    private func checkCORS(_ raw: String, _ r: HTTPServerRequest, _ w: HTTPResponseWriter) async throws {
        let name = try deploymentName(raw)
        guard case .object(let m) = try jsonBody(r) else { throw Problem.field("", "type", "the body must be a JSON object") }
        let known = ["origin", "method", "request_method", "request_headers", "request_private_network"]
        for key in m.keys.sorted() where !known.contains(key) { throw Problem.field(key, "unknown_field", "is not a known field (known: \(known.joined(separator: ", ")))") }
        func string(_ key: String) throws -> String? {
            switch m[key] {
            case nil, .null?: return nil
            case .string(let s)?: return s
            default: throw Problem.field(key, "type", "must be a string")
            }
        }
        if m["method"] == .null { throw Problem.field("method", "type", "must be a string such as GET") }
        let method = try string("method") ?? "GET"
        guard !method.isEmpty, method.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { throw Problem.field("method", "token", "must be an HTTP method such as GET") }
        guard let stored = try await store.get(name) else { throw StoreError.notFound("deployment '\(name)'") }
        let decision = CORSEngine(stored.deployment.cors).decide(CORSRequest(
            origin: try string("origin"), method: method, requestMethod: try string("request_method"),
            requestHeaders: try string("request_headers"), requestPrivateNetwork: try string("request_private_network")))
        let body: JSONValue = .object([
            "action": .string(decision.action.rawValue),
            "rule": .string(decision.rule.description),
            "origin_allowed": decision.originAllowed.map(JSONValue.bool) ?? .null,
            "mode": .string(stored.deployment.cors.mode.rawValue),
            "headers": .array(decision.headers.map { .object(["name": .string($0.name.rawName), "value": .string($0.value)]) }),
        ])
        w.respond(json: body)
    }

    // MARK: Revisions and audit

    private static func revisionNumber(_ raw: String) throws -> Int {
        guard let n = Int(raw), n >= 1 else { throw Problem(status: .notFound, detail: "revisions are numbered from 1") }
        return n
    }

    private func listRevisions(_ raw: String, _ w: HTTPResponseWriter) async throws {
        let name = try deploymentName(raw)
        let revisions = try await store.revisions(of: name)
        if revisions.isEmpty { throw StoreError.notFound("deployment '\(name)'") }
        w.respond(json: ["revisions": revisions])
    }

    private func getRevision(_ raw: String, _ rawN: String, _ w: HTTPResponseWriter) async throws {
        let name = try deploymentName(raw)
        let n = try Self.revisionNumber(rawN)
        guard let (summary, deployment) = try await store.revision(n, of: name) else {
            throw StoreError.notFound("revision \(n) of deployment '\(name)'")
        }
        let body = try JSONValue(encoding: summary).merged(with: .object(["deployment": try JSONValue(encoding: deployment)]))
        w.respond(json: body)
    }

    private func restoreRevision(_ raw: String, _ rawN: String, _ r: HTTPServerRequest, _ w: HTTPResponseWriter, _ actor: Actor) async throws {
        let name = try deploymentName(raw)
        let n = try Self.revisionNumber(rawN)
        let stored = try await store.restore(n, of: name, ifMatch: try IfMatch(r.head.headerFields[.ifMatch]).requiredRevision(), actor: actor)
        try respond(stored, w)
    }

    private func listAudit(_ r: HTTPServerRequest, _ w: HTTPResponseWriter) async throws {
        let query = QueryString(r.query)
        for name in query.names where !["deployment", "since", "limit", "after"].contains(name) {
            throw Problem.field(name, "unknown_parameter", "is not a known parameter (known: deployment, since, limit, after)")
        }
        var limit = 100
        if let text = query["limit"] {
            guard let n = Int(text), (1...1000).contains(n) else { throw Problem.field("limit", "range", "must be an integer from 1 to 1000") }
            limit = n
        }
        var after: Int64?
        if let text = query["after"] {
            guard let n = Int64(text), n >= 0 else { throw Problem.field("after", "cursor", "must be the next_after value of a previous page") }
            after = n
        }
        var since: String?
        if let text = query["since"] {
            guard let date = Timestamp.parse(text) else { throw Problem.field("since", "rfc3339", "must be an RFC 3339 time such as 2026-11-22T00:00:00Z") }
            since = Timestamp.format(date)
        }
        let deployment = query["deployment"]
        let items = try await store.audit(deployment: deployment, since: since, after: after, limit: limit + 1)
        let page = Array(items.prefix(limit))
        let next: JSONValue = items.count > limit ? .number(Double(page.last!.id)) : .null
        w.respond(json: JSONValue.object(["items": try JSONValue(encoding: page), "next_after": next]))
    }

    // MARK: Tokens

    private func createToken(_ r: HTTPServerRequest, _ w: HTTPResponseWriter, _ actor: Actor) async throws {
        guard case .object(let members) = try jsonBody(r) else { throw Problem.field("", "type", "the body must be a JSON object {\"name\": …, \"scope\": …}") }
        for key in members.keys.sorted() where key != "name" && key != "scope" { throw Problem.field(key, "unknown_field", "is not a known field (known: name, scope)") }
        guard case .string(let name)? = members["name"] else { throw Problem.field("name", "required", "is required: a string") }
        guard case .string(let scope)? = members["scope"] else { throw Problem.field("scope", "required", "is required: admin, read or agent:<deployment>") }
        let tokens = self.tokens
        let (record, secret) = try await onTokenQueue { try tokens.create(name: name, scope: scope, actor: actor) }
        var body = try JSONValue(encoding: record)
        body = body.merged(with: .object(["secret": .string(secret)]))
        w.respond(json: body, status: .created)
    }

    private func revokeToken(_ id: String, _ w: HTTPResponseWriter, _ actor: Actor) async throws {
        let tokens = self.tokens
        try await onTokenQueue { try tokens.revoke(id: id, actor: actor) }
        w.respond(HTTPResponse(status: .noContent))
    }

    private func onTokenQueue<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            tokenQueue.async { continuation.resume(with: Result { try work() }) }
        }
    }
}

import Foundation
import CORSPolicy
import CorsdModel
import HTTPCore
import HTTPTypes
import Logging
import Synchronization

/// What the proxy knows of one deployment: compiled once per policy change.
struct ProxyTarget: Sendable {
    var deployment: Deployment
    var engine: CORSEngine
    var upstream: UpstreamURL
}

/// Serves `/tiles/{deployment}/…`: forwards known tile routes (GET, HEAD) to the deployment's
/// OMERO.web upstream and enforces its CORS policy, from an in-memory snapshot that the store
/// updates on every committed change (no SQLite read per request, no restart).
public final class TileProxy: Sendable {
    private let targets = Mutex<[String: ProxyTarget]>([:])
    private let client: HTTPClient
    private let timeouts: HTTPClientTimeouts
    private let logger: Logger
    public let cache: TileCache

    public init(client: HTTPClient, timeouts: HTTPClientTimeouts = .init(connect: 5, header: 30, total: 120), cache: TileCache, logger: Logger) {
        self.client = client
        self.timeouts = timeouts
        self.cache = cache
        self.logger = logger
    }

    /// Replaces the whole snapshot (at start-up).
    public func load(_ deployments: [Deployment]) {
        let compiled = Dictionary(uniqueKeysWithValues: deployments.compactMap { d in Self.compile(d).map { (d.name, $0) } })
        targets.withLock { $0 = compiled }
    }

    /// Applies one change (the store's `onChange`): nil removes the deployment.
    public func update(_ name: String, _ deployment: Deployment?) {
        let target = deployment.flatMap(Self.compile)
        targets.withLock { $0[name] = target }
    }

    private static func compile(_ d: Deployment) -> ProxyTarget? {
        guard case .success(let upstream) = UpstreamURL.parse(d.upstream) else { return nil }
        return ProxyTarget(deployment: d, engine: CORSEngine(d.cors), upstream: upstream)
    }

    public func install(on router: inout Router) {
        for method in [HTTPRequest.Method.get, .head, .options, .post, .put, .patch, .delete] {
            router.add(method, "/tiles/{deployment}/{path...}") { [self] request, parameters, writer in
                handle(request, deployment: parameters["deployment"]!, path: parameters["path"]!, writer)
            }
        }
    }

    // MARK: Handling

    static let acrm = HTTPField.Name("Access-Control-Request-Method")!
    static let acrh = HTTPField.Name("Access-Control-Request-Headers")!
    static let acrpn = HTTPField.Name("Access-Control-Request-Private-Network")!
    static let origin = HTTPField.Name("Origin")!

    func handle(_ request: HTTPServerRequest, deployment name: String, path: String, _ writer: HTTPResponseWriter) {
        guard let target = targets.withLock({ $0[name] }) else {
            writer.respond(Problem(status: .notFound, detail: "no deployment named '\(name)'"))
            return
        }
        let fields = request.head.headerFields
        let decision = target.engine.decide(CORSRequest(
            origin: fields[Self.origin], method: request.method.rawValue, requestMethod: fields[Self.acrm],
            requestHeaders: fields[values: Self.acrh].joined(separator: ","), requestPrivateNetwork: fields[Self.acrpn]))
        var cors = HTTPFields()
        for (n, v) in decision.headers { cors.append(HTTPField(name: HTTPField.Name(n)!, value: v)) }

        switch decision.action {
        case .answerPreflight:
            // Answered here, never forwarded.
            writer.respond(HTTPResponse(status: .ok, headerFields: cors), body: [])
            return
        case .refuse:
            writer.respond(Problem(status: .forbidden, detail: "this origin is not allowed by deployment '\(name)' (\(decision.rule))"), extraFields: cors)
            return
        case .serve:
            break
        }
        guard request.method == .get || request.method == .head else {
            var extra = cors
            extra[.allow] = "GET, HEAD"
            writer.respond(Problem(status: .methodNotAllowed, detail: "tile routes answer GET and HEAD"), extraFields: extra)
            return
        }
        guard let route = TileRoutes.match(path: Substring(path), query: request.query) else {
            writer.respond(Problem(status: .notFound, detail: "not a tile route"), extraFields: cors)
            return
        }
        if let missing = route.missing {
            let issue = Problem.FieldError(field: "query.\(missing)", rule: "required", message: "is required by the upstream view")
            writer.respond(Problem(status: .badRequest, detail: "\(route.route) needs the query parameter '\(missing)'", errors: [issue]), extraFields: cors)
            return
        }
        guard target.upstream.scheme == "http" else {
            writer.respond(Problem(status: .badGateway, detail: "deployment '\(name)' has an https upstream; the tile proxy speaks plain http to upstreams"), extraFields: cors)
            return
        }
        forward(request, target: target, route: route, cors: cors, writer)
    }

    /// End-to-end request fields passed upstream (RFC 9110 hop-by-hop ones never are).
    static let forwardedRequestFields: [HTTPField.Name] = [.accept, .acceptEncoding, .acceptLanguage, .ifNoneMatch, .ifModifiedSince, .userAgent, .range, .ifRange]
    static let credentialFields: [HTTPField.Name] = [.cookie, .authorization]

    private func upstreamRequest(_ request: HTTPServerRequest, _ target: ProxyTarget, _ route: TileRoutes.Match) -> HTTPClientRequest {
        var fields = HTTPFields()
        for name in Self.forwardedRequestFields {
            for value in request.head.headerFields[values: name] { fields.append(HTTPField(name: name, value: value)) }
        }
        if target.deployment.cors.allowCredentials {
            for name in Self.credentialFields {
                for value in request.head.headerFields[values: name] { fields.append(HTTPField(name: name, value: value)) }
            }
        }
        let client = request.remoteAddress?.host ?? "unknown"
        let priorForwarded = request.head.headerFields[.xForwardedFor]
        fields[.xForwardedFor] = priorForwarded.map { "\($0), \(client)" } ?? client
        fields[.xForwardedProto] = "http"
        if let host = request.head.authority { fields[.xForwardedHost] = host }
        fields[.via] = (request.head.headerFields[.via].map { "\($0), " } ?? "") + "1.1 corsd"
        let targetPath = target.upstream.pathPrefix + "/" + route.path + (route.query.isEmpty ? "" : "?" + route.query)
        return HTTPClientRequest(
            endpoint: UpstreamEndpoint(host: target.upstream.host, port: target.upstream.port),
            method: request.method, target: targetPath, headerFields: fields, timeouts: timeouts)
    }

    private func forward(_ request: HTTPServerRequest, target: ProxyTarget, route: TileRoutes.Match, cors: HTTPFields, _ writer: HTTPResponseWriter) {
        var upstream = upstreamRequest(request, target, route)
        // Responses to credentialed requests may be one user's: never shared through the cache.
        guard !upstream.headerFields.contains(where: { Self.credentialFields.contains($0.name) }) else {
            fetch(upstream, name: target.deployment.name, cors: cors, cache: nil, writer)
            return
        }
        let key = TileCache.Key(endpoint: upstream.endpoint, target: upstream.target)
        switch cache.lookup(key) {
        case .fresh(let entry):
            cache.respond(entry, to: request, cors: cors, state: "HIT", writer)
        case .stale(let entry):
            // Revalidate with the cached validator; the client's own conditionals are answered
            // from the entry afterwards.
            upstream.headerFields[.ifNoneMatch] = entry.etag
            upstream.headerFields[.ifModifiedSince] = entry.etag == nil ? entry.lastModified : nil
            upstream.method = .get
            fetch(upstream, name: target.deployment.name, cors: cors, cache: (key, entry, request), writer)
        case .miss:
            fetch(upstream, name: target.deployment.name, cors: cors, cache: request.method == .get ? (key, nil, request) : nil, writer)
        }
    }

    /// Sends `upstream` and streams the answer to `writer` with corsd's CORS headers; with a
    /// cache context, stores what may be stored and answers revalidations from the entry.
    private func fetch(_ upstream: HTTPClientRequest, name: String, cors: HTTPFields,
                       cache context: (key: TileCache.Key, stale: TileCache.Entry?, request: HTTPServerRequest)?, _ writer: HTTPResponseWriter) {
        struct State {
            var started = false
            var answeredFromCache = false
            var collecting: [UInt8]?
            var head: ResponseHead?
        }
        let state = Mutex(State())
        let cache = self.cache
        let task = client.execute(upstream, handler: HTTPClientResponseHandler(
            onHead: { head in
                if let context, let stale = context.stale, head.response.status.code == 304 {
                    let entry = cache.refresh(context.key, stale, with: head.response.headerFields)
                    state.withLock { $0.started = true; $0.answeredFromCache = true }
                    cache.respond(entry, to: context.request, cors: cors, state: "REVALIDATED", writer)
                    return
                }
                let storable = context != nil && cache.isStorable(head)
                state.withLock {
                    $0.started = true
                    $0.head = head
                    $0.collecting = storable ? [] : nil
                }
                var fields = Self.endToEnd(head.response.headerFields)
                fields.append(contentsOf: cors)
                fields[.xCache] = context == nil ? nil : "MISS"
                mergeVary(&fields)
                if context != nil { cache.countMiss() }
                writer.writeHead(HTTPResponse(status: head.response.status, headerFields: fields), contentLength: Self.contentLength(head, method: upstream.method))
            },
            onBody: { bytes, resume in
                let fromCache = state.withLock { s -> Bool in
                    if s.collecting != nil { s.collecting!.append(contentsOf: bytes) }
                    return s.answeredFromCache
                }
                if fromCache { resume() } else { writer.writeBody(bytes, onFlushed: resume) }
            },
            onEnd: {
                let (fromCache, collected, head) = state.withLock { ($0.answeredFromCache, $0.collecting, $0.head) }
                if fromCache { return }
                if let context, let collected, let head { cache.store(context.key, head: head, body: collected) }
                writer.end()
            },
            onError: { [self] error in
                if state.withLock({ $0.started }) {
                    writer.abort()  // the head is out: a truncated body is all that can be said
                    return
                }
                // The log has the address; an anonymous client learns only which deployment failed.
                logger.warning("upstream failed", metadata: ["deployment": "\(name)", "upstream": "\(upstream.endpoint)", "error": "\(error)"])
                let status: HTTPResponse.Status = error.isTimeout ? .gatewayTimeout : .badGateway
                let what = error.isTimeout ? "did not answer in time" : "failed or sent a message corsd will not relay"
                writer.respond(Problem(status: status, detail: "the upstream of deployment '\(name)' \(what)"), extraFields: cors)
            }))
        writer.onCancel { task.cancel() }
    }

    /// The framing corsd sends is derived from how corsd itself reads the upstream body: a
    /// verified Content-Length stays one (the writer drops the connection if the body falls
    /// short or runs over); chunked and close-delimited bodies are sent chunked. For HEAD, the
    /// length the upstream announced for GET (already checked by the parser).
    static func contentLength(_ head: ResponseHead, method: HTTPRequest.Method) -> Int? {
        switch head.framing {
        case .contentLength(let n): return n
        case .none: return method == .head ? head.response.headerFields[.contentLength].flatMap { Int($0) } : 0
        case .chunked, .untilClose: return nil
        }
    }

    static let hopByHop: Set<String> = ["connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection", "proxy-authenticate", "proxy-authorization", "content-length"]

    /// The upstream's fields minus hop-by-hop ones (and those `Connection` names) and minus
    /// its CORS headers, which corsd replaces with its own.
    static func endToEnd(_ fields: HTTPFields) -> HTTPFields {
        let named = Set(fields[values: .connection].flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces).lowercased() })
        var out = HTTPFields()
        for field in fields {
            let lower = field.name.canonicalName
            if hopByHop.contains(lower) || named.contains(lower) || lower.hasPrefix("access-control-") || lower == "date" { continue }
            out.append(field)
        }
        return out
    }
}

/// Joins all `Vary` values into one field, `Origin` included once.
func mergeVary(_ fields: inout HTTPFields) {
    var tokens: [String] = []
    for value in fields[values: .vary] {
        for t in value.split(separator: ",") {
            let token = t.trimmingCharacters(in: .whitespaces)
            if !token.isEmpty && !tokens.contains(where: { $0.lowercased() == token.lowercased() }) { tokens.append(token) }
        }
    }
    fields[.vary] = tokens.joined(separator: ", ")
}

extension HTTPField.Name {
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
    static let xForwardedProto = HTTPField.Name("X-Forwarded-Proto")!
    static let xForwardedHost = HTTPField.Name("X-Forwarded-Host")!
    static let xCache = HTTPField.Name("X-Cache")!
}

import CORSPolicy
import CoreMetrics
import Dispatch
import CorsdModel
import CorsdBase
import HTTPCore
import HTTPRouting
import HTTPTypes
import Logging
import Synchronization

/// What the proxy knows of one deployment: compiled once per policy change.
struct ProxyTarget: Sendable {
    var deployment: Deployment
    var engine: CORSEngine
    var metrics: TargetMetrics
    /// Where requests go; for https, with the context that verifies the upstream (or why none
    /// could be made: a CA bundle OpenSSL refuses, a missing system store).
    var endpoint: Result<UpstreamEndpoint, TLSError>
    var upstream: UpstreamURL { deployment.upstream }

    init(_ deployment: Deployment) {
        self.deployment = deployment
        self.engine = CORSEngine(deployment.cors)
        self.metrics = TargetMetrics(deployment: deployment.name)
        let url = deployment.upstream
        endpoint = Result { () throws(TLSError) -> UpstreamEndpoint in
            UpstreamEndpoint(host: url.host, port: url.port,
                             tls: url.scheme == "https" ? try UpstreamTrust.context(caBundlePEM: deployment.upstreamCA) : nil)
        }
    }
}

/// TLS client contexts for upstreams, one per distinct CA bundle (nil: the system store), so a
/// policy edit that keeps the bundle keeps the same context, pool and pooled connections.
enum UpstreamTrust {
    private static let contexts = Mutex<[String: TLSClientContext]>([:])
    /// Bundles are few (one per internal CA); past this many, the cache starts over.
    private static let maxBundles = 64

    static func context(caBundlePEM: String?) throws(TLSError) -> TLSClientContext {
        guard let pem = caBundlePEM else { return try TLSClientContext.system() }
        if let known = contexts.withLock({ $0[pem] }) { return known }
        let context = try TLSClientContext(caBundlePEM: pem)
        return contexts.withLock { c in
            if c.count >= maxBundles { c.removeAll() }
            if let raced = c[pem] { return raced }
            c[pem] = context
            return context
        }
    }
}

/// One deployment's swift-metrics handles, made once per policy change (the registry hands
/// back the same series for the same labels, so counts carry over). CORS decisions are not
/// counted here: the proxy notes them on the exchange and the request metrics count them with
/// the request, in one place.
final class TargetMetrics: Sendable {
    let deployment: String
    let upstreamDuration: Timer

    init(deployment: String) {
        self.deployment = deployment
        upstreamDuration = Timer(label: "corsd_upstream_request_duration_seconds", dimensions: [("deployment", deployment)])
    }

    /// `corsd_upstream_errors_total{deployment,kind}` (rare: made when needed).
    func countUpstreamError(_ kind: String) {
        Counter(label: "corsd_upstream_errors_total", dimensions: [("deployment", deployment), ("kind", kind)]).increment()
    }
}

extension CORSDecision.Action {
    /// snake_case, for metrics.
    var label: String {
        switch self {
        case .serve: return "serve"
        case .answerPreflight: return "preflight"
        case .refuse: return "refuse"
        }
    }
}

/// Serves `/tiles/{deployment}/…`: forwards known tile routes (GET, HEAD) to the deployment's
/// OMERO.web upstream and enforces its CORS policy, from an in-memory snapshot that the store
/// updates on every committed change (no SQLite read per request, no restart).
///
/// One pipeline per request, each stage a plain value or function:
/// `route → CORS decision (CORSEngine) → cache lookup (TileCache) → upstream exchange →
/// one response builder (ResponseBuilder) → writer`, with `ForwardingRules` deciding what goes
/// upstream and `CacheRules` what is kept.
public final class TileProxy: Sendable {
    private let targets = Mutex<[String: ProxyTarget]>([:])
    private let client: HTTPClient
    private let timeouts: HTTPClientTimeouts
    private let logger: Logger
    public let cache: TileCache
    private let refusals = RefusalLog()

    public init(client: HTTPClient, timeouts: HTTPClientTimeouts = .init(connect: 5, header: 30, total: 120), cache: TileCache, logger: Logger) {
        self.client = client
        self.timeouts = timeouts
        self.cache = cache
        self.logger = logger
    }

    /// Replaces the whole snapshot (at start-up).
    public func load(_ deployments: [Deployment]) {
        let compiled = Dictionary(uniqueKeysWithValues: deployments.map { ($0.name, ProxyTarget($0)) })
        targets.withLock { $0 = compiled }
    }

    /// Applies one change (the store's `onChange`): nil removes the deployment. Its cached
    /// responses go when it is removed or its upstream changes: they were another server's.
    public func update(_ name: String, _ deployment: Deployment?) {
        let target = deployment.map(ProxyTarget.init)
        let previous = targets.withLock { t -> ProxyTarget? in
            defer { t[name] = target }
            return t[name]
        }
        if let previous, previous.upstream != target?.upstream || previous.deployment.upstreamCA != target?.deployment.upstreamCA {
            cache.purge(deployment: name)
        }
    }

    public func install(on router: inout Router) {
        // Every method reaches the proxy, so even a 405 carries the deployment's CORS headers.
        router.addStreaming(nil, "/tiles/{deployment}/{path...}") { [self] request, context, writer in
            handle(request, deployment: String(context.parameters["deployment"] ?? ""), path: context.parameters["path"] ?? "", writer)
        }
    }

    // MARK: The pipeline

    func handle(_ request: HTTPServerRequest, deployment name: String, path: Substring, _ writer: HTTPResponseWriter) {
        guard let target = targets.withLock({ $0[name] }) else {
            writer.respond(Problem(status: .notFound, detail: "no deployment named '\(name)'"))
            return
        }
        let fields = request.head.headerFields
        let corsRequest = CORSRequest(method: request.method, fields: fields)
        let decision = target.engine.decide(corsRequest)
        let cors = decision.headers
        writer.note {
            $0.deployment = name
            $0.origin = corsRequest.origin
            $0.corsAction = decision.action.label
            $0.corsRule = decision.rule.category
        }
        switch decision.action {
        case .answerPreflight:
            writer.respond(HTTPResponse(status: .ok, headerFields: cors), body: [])  // never forwarded
            return
        case .refuse:
            if let origin = corsRequest.origin, let suppressed = refusals.shouldLog(deployment: name, origin: origin) {
                logger.info("origin refused", metadata: ["deployment": "\(name)", "origin": "\(origin.prefix(256))", "rule": "\(decision.rule)",
                                                         "suppressed_since_last": "\(suppressed)"])
            }
            writer.respond(Problem(status: .forbidden, detail: "this origin is not allowed by deployment '\(name)' (\(decision.rule))"), extraFields: cors)
            return
        case .serve:
            break
        }
        if ForwardingRules.isLoop(fields) {
            writer.respond(Problem(status: .loopDetected, detail: "the request already passed through corsd (Via): a proxy loop"), extraFields: cors)
            return
        }
        if let host = request.head.authority, !Authority.isValid(host) {
            writer.respond(Problem(status: .badRequest, detail: "Host is not a valid authority (host[:port])",
                                   errors: [FieldIssue(field: "Host", rule: .authority, message: "must be a host name or address with an optional port")]), extraFields: cors)
            return
        }
        guard request.method == .get || request.method == .head else {
            var extra = cors
            extra[.allow] = "GET, HEAD"
            writer.respond(Problem(status: .methodNotAllowed, detail: "tile routes answer GET and HEAD"), extraFields: extra)
            return
        }
        guard let route = TileRoutes.match(path: path, query: request.query) else {
            writer.respond(Problem(status: .notFound, detail: "not a tile route"), extraFields: cors)
            return
        }
        if let missing = route.missing {
            let issue = FieldIssue(field: "query.\(missing)", rule: .required, message: "is required by the upstream view")
            writer.respond(Problem(status: .badRequest, detail: "\(route.route) needs the query parameter '\(missing)'", errors: [issue]), extraFields: cors)
            return
        }
        let endpoint: UpstreamEndpoint
        switch target.endpoint {
        case .success(let e): endpoint = e
        case .failure(let error):
            logger.error("upstream TLS unavailable", metadata: ["deployment": "\(name)", "upstream": "\(target.upstream)", "error": "\(error)"])
            writer.respond(Problem(status: .badGateway, detail: "the https upstream of deployment '\(name)' cannot be verified: its CA bundle does not load (see corsd's log)"), extraFields: cors)
            return
        }
        let upstream = HTTPClientRequest(
            endpoint: endpoint, method: request.method,
            target: target.upstream.pathPrefix + "/" + route.path + (route.query.isEmpty ? "" : "?" + route.query),
            headerFields: ForwardingRules.upstreamFields(client: fields, remote: request.remoteAddress?.host ?? "unknown",
                                                       overTLS: request.tls != nil, target: target),
            timeouts: timeouts)
        let exchange = Exchange(proxy: self, target: target, route: route, request: request, cors: cors, writer: writer)
        guard cache.isEnabled, ForwardingRules.isCacheable(request.method, upstream.headerFields) else {
            writer.note { $0.cache = "bypass" }
            exchange.fetch(upstream, cacheKey: nil, stale: nil)
            return
        }
        let key = TileCache.Key(deployment: name, target: upstream.target,
                                negotiation: ForwardingRules.negotiation.map { upstream.headerFields[values: $0].joined(separator: ", ") })
        switch cache.lookup(key, request: fields) {
        case .fresh(let entry):
            writer.note { $0.cache = "hit" }
            cache.record(.hit)
            exchange.respond(from: entry, source: .hit)
        case .stale(let entry):
            // Revalidate with the stored validator; the client's own conditionals are answered
            // from the entry afterwards.
            var revalidation = upstream
            revalidation.method = .get
            revalidation.headerFields[.ifNoneMatch] = entry.etag
            revalidation.headerFields[.ifModifiedSince] = entry.etag == nil ? entry.lastModified : nil
            writer.note { $0.cache = "revalidated" }
            exchange.fetch(revalidation, cacheKey: key, stale: entry)
        case .miss:
            writer.note { $0.cache = "miss" }
            exchange.fetch(upstream, cacheKey: request.method == .get ? key : nil, stale: nil)
        }
    }

    /// One request's trip upstream and back.
    struct Exchange: Sendable {
        let proxy: TileProxy
        let target: ProxyTarget
        let route: TileRoutes.Match
        let request: HTTPServerRequest
        let cors: HTTPFields
        let writer: HTTPResponseWriter

        /// Answers from a stored entry: 304 if the client's `If-None-Match` names its ETag.
        func respond(from entry: TileCache.Entry, source: ResponseBuilder.Source) {
            if let etag = entry.etag, EntityTag.ifNoneMatch(request.head.headerFields[.ifNoneMatch], matches: etag) {
                var fields = entry.fields
                fields[.contentType] = nil
                writer.respond(ResponseBuilder.head(status: .notModified, fields: fields, cors: cors, source: source))
                return
            }
            writer.respond(ResponseBuilder.head(status: entry.status, fields: entry.fields, cors: cors, source: source), body: entry.body)
        }

        /// Stores a complete upstream response under `key`, with the request values of the fields
        /// it varies on.
        private func keep(_ key: TileCache.Key, _ head: ResponseHead, _ decision: CacheRules.Decision, _ body: [UInt8]) {
            let fields = ResponseBuilder.endToEnd(head.response.headerFields)
            let vary = Dictionary(decision.vary.map { name in
                (name, HTTPField.Name(name).flatMap { n -> String? in
                    let v = request.head.headerFields[values: n].joined(separator: ", ")
                    return v.isEmpty ? nil : v
                })
            }, uniquingKeysWith: { a, _ in a })
            proxy.cache.store(key, TileCache.Entry(
                status: head.response.status, fields: fields, body: body, etag: CacheFields.etag(fields),
                lastModified: fields[.lastModified], freshUntil: TileCache.freshUntil(seconds: decision.lifetime),
                vary: vary, imageID: route.imageID))
        }

        /// Sends `upstream` and streams the answer with corsd's framing and CORS headers; with a
        /// cache key, keeps what `CacheRules` allows, and answers a revalidation from the entry.
        func fetch(_ upstream: HTTPClientRequest, cacheKey: TileCache.Key?, stale: TileCache.Entry?) {
            struct State {
                var headSent = false
                var fromEntry = false
                var collecting: [UInt8]?
                var store: (head: ResponseHead, decision: CacheRules.Decision)?
            }
            let state = Mutex(State())
            let cache = proxy.cache, maxBytes = cache.maxEntryBytes
            let fallbackTTL = target.deployment.cache.ttl(for: route.kind)
            let started = DispatchTime.now().uptimeNanoseconds
            let task = proxy.client.execute(upstream, handler: HTTPClientResponseHandler(
                onHead: { head in
                    let now = DispatchTime.now().uptimeNanoseconds
                    target.metrics.upstreamDuration.recordNanoseconds(Int64(clamping: now >= started ? now - started : 0))
                    if let cacheKey, let stale, head.response.status == .notModified {
                        let lifetime = CacheRules.lifetime(head.response.headerFields, fallbackTTL: fallbackTTL)
                        let entry = cache.refresh(cacheKey, stale, with: head.response.headerFields, lifetime: lifetime)
                        cache.record(.revalidated)
                        state.withLock { $0.headSent = true; $0.fromEntry = true }
                        respond(from: entry, source: .revalidated)
                        return
                    }
                    let decision = cacheKey == nil ? nil : CacheRules.decide(head, fallbackTTL: fallbackTTL)
                    state.withLock {
                        $0.headSent = true
                        $0.collecting = decision == nil ? nil : []
                        $0.store = decision.map { (head, $0) }
                    }
                    if cacheKey != nil { cache.record(.miss) }
                    let response = ResponseBuilder.head(status: head.response.status, fields: ResponseBuilder.endToEnd(head.response.headerFields),
                                                        cors: cors, source: cacheKey == nil ? nil : .miss)
                    writer.writeHead(response, contentLength: ResponseBuilder.contentLength(head, method: upstream.method))
                },
                onBody: { bytes, resume in
                    // The entry is stored before the body's last bytes go out: a client that has
                    // the whole response finds it in the cache on its next request.
                    let (fromEntry, complete) = state.withLock { s -> (Bool, (ResponseHead, CacheRules.Decision, [UInt8])?) in
                        guard var collected = s.collecting, let store = s.store else { return (s.fromEntry, nil) }
                        collected.append(contentsOf: bytes)
                        s.collecting = collected.count > maxBytes ? nil : collected  // too big to keep
                        guard case .contentLength(let n) = store.head.framing, collected.count == n, n <= maxBytes else { return (s.fromEntry, nil) }
                        s.collecting = nil
                        return (s.fromEntry, (store.head, store.decision, collected))
                    }
                    if let (head, decision, body) = complete, let cacheKey { keep(cacheKey, head, decision, body) }
                    if fromEntry { resume() } else { writer.writeBody(bytes, onFlushed: resume) }
                },
                onEnd: {
                    // Chunked or close-delimited bodies: complete only now, before the end is sent.
                    let (fromEntry, collected, store) = state.withLock { ($0.fromEntry, $0.collecting, $0.store) }
                    if fromEntry { return }
                    if let cacheKey, let collected, let (head, decision) = store { keep(cacheKey, head, decision, collected) }
                    writer.end()
                },
                onError: { error in
                    if state.withLock({ $0.headSent }) {
                        target.metrics.countUpstreamError("truncated")
                        proxy.logger.warning("upstream failed mid-response", metadata: ["deployment": "\(target.deployment.name)", "upstream": "\(upstream.endpoint)", "error": "\(error)"])
                        writer.abort()  // the head is out: a truncated message is all that can be said
                        return
                    }
                    // The log has the address; an anonymous client learns only which deployment failed.
                    let name = target.deployment.name
                    target.metrics.countUpstreamError(error.metricKind)
                    proxy.logger.warning("upstream failed", metadata: ["deployment": "\(name)", "upstream": "\(upstream.endpoint)", "error": "\(error)"])
                    let (status, what): (HTTPResponse.Status, String) =
                        error == .noDescriptors ? (.serviceUnavailable, "cannot be reached now: corsd is at its open-file budget; retry shortly")
                        : error.isTimeout ? (.gatewayTimeout, "did not answer in time")
                        : (.badGateway, "failed or sent a message corsd will not relay")
                    var fields = cors
                    if status == .serviceUnavailable { fields[.retryAfter] = "1" }
                    writer.respond(Problem(status: status, detail: "the upstream of deployment '\(name)' \(what)"), extraFields: fields)
                }))
            writer.onCancel { task.cancel() }
        }
    }
}

extension TileCachePolicy {
    /// The operator's TTL for a route of this kind.
    func ttl(for kind: TileRoutes.Kind) -> Int { kind == .tile ? tilesTTL : metadataTTL }
}

extension HTTPResponse.Status {
    /// RFC 5842 §7.2.
    static let loopDetected = HTTPResponse.Status(code: 508, reasonPhrase: "Loop Detected")
}

/// Rate limit for "origin refused" log lines: at most one per (deployment, origin) a minute,
/// with the count of those left out. Bounded: past `capacity` keys the table starts afresh,
/// so a flood of invented origins costs memory no more than it costs lines.
final class RefusalLog: Sendable {
    private struct Entry {
        var last: UInt64
        var suppressed: Int
    }
    private let entries = Mutex<[String: Entry]>([:])
    private let interval: UInt64
    private let capacity: Int

    init(intervalSeconds: UInt64 = 60, capacity: Int = 10_000) {
        self.interval = intervalSeconds * 1_000_000_000
        self.capacity = capacity
    }

    var count: Int { entries.withLock { $0.count } }

    /// nil: don't log now. Otherwise, log, mentioning this many suppressed since the last line.
    func shouldLog(deployment: String, origin: String, now: UInt64 = DispatchTime.now().uptimeNanoseconds) -> Int? {
        let key = deployment + "\u{0}" + origin.prefix(256)
        return entries.withLock { table -> Int? in
            if var entry = table[key] {
                guard now &- entry.last >= interval else {
                    entry.suppressed += 1
                    table[key] = entry
                    return nil
                }
                table[key] = Entry(last: now, suppressed: 0)
                return entry.suppressed
            }
            if table.count >= capacity { table.removeAll(keepingCapacity: true) }
            table[key] = Entry(last: now, suppressed: 0)
            return 0
        }
    }
}

import CoreMetrics
import Foundation
import HTTPCore
import HTTPRouting
import HTTPTypes
import Prometheus
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// corsd's metrics: swift-metrics handlers, exported by swift-prometheus's registry in the
/// Prometheus text format. Libraries record through swift-metrics (`Counter`, `Timer`); the
/// values known only at scrape time (connections, descriptors, cache size, revisions) are
/// gauges set just before each scrape.
public final class CorsdMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory

    /// Latency buckets, seconds: tiles from memory take microseconds, upstream misses tens of
    /// milliseconds, a slow OMERO.web seconds.
    static let durationBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(10),
    ]

    /// Bootstraps swift-metrics with a Prometheus factory (once per process).
    public static func bootstrap() -> CorsdMetrics {
        let metrics = CorsdMetrics()
        MetricsSystem.bootstrap(metrics.factory)
        return metrics
    }

    /// Metrics on `registry` without bootstrapping swift-metrics (tests).
    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = Self.durationBuckets
        self.factory = factory
    }

    // MARK: Requests

    private struct RequestKey: Hashable {
        var route: String
        var code: Int
    }
    private struct DecisionKey: Hashable {
        var deployment: String
        var action: String
        var rule: String
    }
    /// The handles for each label set seen, made on first use: one lock per exchange.
    private struct Handles {
        var requests: [RequestKey: CoreMetrics.Counter] = [:]
        var durations: [String: CoreMetrics.Timer] = [:]
        var decisions: [DecisionKey: CoreMetrics.Counter] = [:]
    }
    private let handles = Mutex(Handles())

    /// For one exchange (the server's `onExchangeEnd`): `corsd_http_requests_total{route,code}`,
    /// `corsd_http_request_duration_seconds{route}` and, for the tile proxy's,
    /// `corsd_cors_decisions_total{deployment,action,rule}` from its notes. Deployment labels
    /// come only from the proxy's own deployments (never from the request path).
    public func record(_ exchange: ExchangeRecord) {
        let route = Self.routeLabel(exchange)
        let key = RequestKey(route: route, code: exchange.completed ? exchange.status : 0)
        let notes = exchange.notes
        let (counter, timer, decision) = handles.withLock { h -> (CoreMetrics.Counter, CoreMetrics.Timer, CoreMetrics.Counter?) in
            let counter = h.requests[key] ?? {
                let c = CoreMetrics.Counter(label: "corsd_http_requests_total", dimensions: [("route", route), ("code", key.code == 0 ? "aborted" : String(key.code))],
                                            factory: factory)
                h.requests[key] = c
                return c
            }()
            let timer = h.durations[route] ?? {
                let t = CoreMetrics.Timer(label: "corsd_http_request_duration_seconds", dimensions: [("route", route)], factory: factory)
                h.durations[route] = t
                return t
            }()
            guard let deployment = notes.deployment, let action = notes.corsAction, let rule = notes.corsRule else { return (counter, timer, nil) }
            let dk = DecisionKey(deployment: deployment, action: action, rule: rule)
            let decision = h.decisions[dk] ?? {
                let c = CoreMetrics.Counter(label: "corsd_cors_decisions_total", dimensions: [("deployment", deployment), ("action", action), ("rule", rule)],
                                            factory: factory)
                h.decisions[dk] = c
                return c
            }()
            return (counter, timer, decision)
        }
        counter.increment()
        timer.recordNanoseconds(Int64(clamping: exchange.durationNanoseconds))
        decision?.increment()
    }

    /// `corsd_tls_handshake_failures_total{kind}`: `error` or `timeout` (the server's
    /// `onTLSHandshakeFailure`).
    public func countTLSHandshakeFailure(_ kind: String) {
        CoreMetrics.Counter(label: "corsd_tls_handshake_failures_total", dimensions: [("kind", kind)], factory: factory).increment()
    }

    /// The route template; `unmatched` for 404/405 paths and `rejected` for requests refused
    /// before parsing: the label set stays bounded whatever clients send.
    static func routeLabel(_ exchange: ExchangeRecord) -> String {
        exchange.notes.route ?? (exchange.method == nil ? "rejected" : "unmatched")
    }

    // MARK: Scrape-time gauges

    /// What `/metrics` reads from the running server just before it answers.
    public struct Snapshot: Sendable {
        public var connections: ConnectionCounts
        public var tileCacheBytes: Int
        public var revisions: [String: Int]
        public var version: String
        /// Requests parked in a long-poll (`…/renders?wait=`).
        public var longPolls: Int
        /// When the served TLS certificate expires (seconds since the epoch); nil without TLS.
        public var tlsCertificateNotAfter: Double?

        public init(connections: ConnectionCounts, tileCacheBytes: Int, revisions: [String: Int], version: String, longPolls: Int = 0,
                    tlsCertificateNotAfter: Double? = nil) {
            self.connections = connections
            self.tileCacheBytes = tileCacheBytes
            self.revisions = revisions
            self.version = version
            self.longPolls = longPolls
            self.tlsCertificateNotAfter = tlsCertificateNotAfter
        }
    }

    private let revisionGauges = Mutex<[String: Prometheus.Gauge]>([:])

    func update(from snapshot: Snapshot) {
        registry.makeGauge(name: "corsd_connections", labels: [("state", "open")]).set(to: Double(snapshot.connections.open))
        registry.makeGauge(name: "corsd_connections", labels: [("state", "handling")]).set(to: Double(snapshot.connections.handling))
        if let open = Self.openDescriptors() { registry.makeGauge(name: "corsd_open_fds").set(to: Double(open)) }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 { registry.makeGauge(name: "corsd_fd_limit").set(to: Double(limit.rlim_cur)) }
        registry.makeGauge(name: "corsd_tile_cache_bytes").set(to: Double(snapshot.tileCacheBytes))
        registry.makeGauge(name: "corsd_build_info", labels: [("version", snapshot.version)]).set(to: 1)
        registry.makeGauge(name: "corsd_long_polls").set(to: Double(snapshot.longPolls))
        if let notAfter = snapshot.tlsCertificateNotAfter {
            registry.makeGauge(name: "corsd_tls_certificate_not_after_seconds").set(to: notAfter)
        }
        revisionGauges.withLock { gauges in
            for (name, gauge) in gauges where snapshot.revisions[name] == nil {
                registry.unregisterGauge(gauge)  // a deleted deployment leaves no stale series
                gauges[name] = nil
            }
            for (name, revision) in snapshot.revisions {
                let gauge = gauges[name] ?? registry.makeGauge(name: "corsd_deployment_revision", labels: [("deployment", name)])
                gauges[name] = gauge
                gauge.set(to: Double(revision))
            }
        }
    }

    /// Sets a gauge known only to its caller (edge status), at scrape time.
    public func setGauge(_ name: String, labels: [(String, String)] = [], _ value: Double) {
        registry.makeGauge(name: name, labels: labels).set(to: value)
    }

    /// Entries of /proc/self/fd (Linux), less the one the listing itself opens.
    static func openDescriptors() -> Int? {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return nil }
        return max(0, entries.count - 1)
    }

    /// Installs `GET /metrics` (no authentication: it names deployments and counts, never
    /// secrets or origins).
    public func install(on router: inout Router, snapshot: @escaping @Sendable () -> Snapshot) {
        router.add(.get, "/metrics") { [self] _, _ in
            update(from: snapshot())
            var fields = HTTPFields()
            fields[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            fields[.cacheControl] = "no-store"
            return Response(status: .ok, headerFields: fields, body: registry.emitToBuffer())
        }
    }
}

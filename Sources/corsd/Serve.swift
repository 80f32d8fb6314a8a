import ArgumentParser
import Dispatch
import Foundation
import HTTPCore
import HTTPRouting
import HTTPTypes
import Logging
import ManagementAPI
import Observability
import PolicyStore
import Synchronization
import TileProxy

#if canImport(Glibc)
import Glibc
#endif

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the management API and tile proxy.",
        discussion: """
            Every option can also come from the environment (CORSD_ and the option's name in \
            capitals with underscores: CORSD_LISTEN, CORSD_LOG_FORMAT, CORSD_ENABLE_DEBUG_ROUTES=true) \
            or from a JSON config file (--config or CORSD_CONFIG: {"listen": ":8080", "log-format": "json"}). \
            A flag beats the environment, which beats the file, which beats the default.
            """)

    @Option(help: "JSON file of options (keys are option names without dashes).")
    var config: String?

    @Option(help: "Address to listen on: HOST:PORT (an address or a name), [IPv6]:PORT or :PORT (every IPv4 interface). Port 0 picks a free port.")
    var listen = "127.0.0.1:8080"

    @Option(help: "Serve /metrics on this address instead of --listen (same forms).")
    var metricsListen: String?

    @OptionGroup var database: DatabaseOptions

    @OptionGroup var tls: TLSOptions

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    @Option(help: "Log format on stderr: text or json (one object per line).")
    var logFormat: LogFormat = .text

    @Option(help: "Write an access log of JSON lines to this file ('-' for stdout).")
    var accessLog: String?

    @Option(help: "Most concurrent client connections (default: derived from the open-file limit).")
    var maxConnections: Int?

    @Option(help: "Largest request body in bytes.")
    var maxBodyBytes = 1024 * 1024

    @Option(help: "Seconds allowed to receive a request head.")
    var headerTimeout = 10.0

    @Option(help: "Seconds allowed to receive a request body.")
    var bodyTimeout = 30.0

    @Option(help: "Seconds a keep-alive connection may stay idle.")
    var idleTimeout = 60.0

    @Option(help: "Seconds a blocked response write may make no progress.")
    var writeTimeout = 30.0

    @Option(help: "Seconds graceful shutdown waits for in-flight requests (keep it below your supervisor's stop timeout: docker stop waits 10 s).")
    var shutdownGrace = 8.0

    @Option(help: "Most pooled connections per upstream OMERO.web (the tile proxy never opens more).")
    var upstreamConnections = 32

    @Option(help: "Seconds allowed to connect to an upstream (502 beyond).")
    var upstreamConnectTimeout = 5.0

    @Option(help: "Seconds allowed for an upstream to send its response head (504 beyond).")
    var upstreamTimeout = 30.0

    @Option(help: "Bytes of tile responses to cache (0 disables the cache).")
    var tileCacheBytes = 256 << 20

    @Flag(help: "Serve /debug/* routes used by the integration tests and benchmarks. Never in production.")
    var enableDebugRoutes = false

    func validate() throws {
        do { _ = try SocketAddress(listening: listen) } catch { throw ValidationError("--listen: \(error)") }
        if let metricsListen {
            do { _ = try SocketAddress(listening: metricsListen) } catch { throw ValidationError("--metrics-listen: \(error)") }
        }
        if let maxConnections, maxConnections < 1 { throw ValidationError("--max-connections must be at least 1") }
        if upstreamConnections < 1 { throw ValidationError("--upstream-connections must be at least 1") }
        if tileCacheBytes < 0 { throw ValidationError("--tile-cache-bytes must not be negative") }
        if !(upstreamConnectTimeout > 0) || !(upstreamTimeout > 0) { throw ValidationError("upstream timeouts must be positive numbers of seconds") }
        if maxBodyBytes < 0 { throw ValidationError("--max-body-bytes must not be negative") }
        for (name, value) in [("--header-timeout", headerTimeout), ("--body-timeout", bodyTimeout), ("--idle-timeout", idleTimeout), ("--write-timeout", writeTimeout), ("--shutdown-grace", shutdownGrace)] where !(value > 0) {
            throw ValidationError("\(name) must be a positive number of seconds")
        }
    }

    func run() async throws {
        bootstrapLogging(format: logFormat, level: logLevel)
        let metrics = CorsdMetrics.bootstrap()
        let logger = Logger(label: "corsd")
        signal(SIGPIPE, SIG_IGN)

        let accessLog = try accessLog.map { path in
            do { return try AccessLog(path: path) } catch { throw CLIError("--access-log: \(error)") }
        }
        var configuration = HTTPServerConfiguration(address: try SocketAddress(listening: listen))
        configuration.maxConnections = maxConnections
        configuration.limits.maxBodyBytes = maxBodyBytes
        configuration.timeouts.header = headerTimeout
        configuration.timeouts.body = bodyTimeout
        configuration.timeouts.idle = idleTimeout
        configuration.timeouts.write = writeTimeout
        configuration.shutdownGrace = shutdownGrace
        configuration.tls = try tls.context()
        configuration.onTLSHandshakeFailure = { metrics.countTLSHandshakeFailure($0) }
        let tlsContext = configuration.tls
        configuration.rejection = Problem.rejection
        configuration.onExchangeEnd = { exchange in
            metrics.record(exchange)
            accessLog?.record(exchange)
        }

        let adminSecret = try Self.adminSecret(ProcessInfo.processInfo.environment)
        let db = try database.open(create: true)
        if !db.applied.isEmpty { logger.info("applied migrations: \(db.applied.joined(separator: ", "))") }
        let cache = TileCache(capacityBytes: tileCacheBytes)
        // One descriptor budget: a reserve, the server's connection cap, and the rest for
        // upstream sockets (busy or idle).
        let limits = FileDescriptorBudget.raiseSoftLimit()
        let clientCap = maxConnections ?? limits.connectionCap
        let budget = DescriptorBudget(limit: limits.upstreamShare(clientCap: clientCap))
        logger.info("descriptor budget", metadata: ["nofile": "\(limits.softLimit)", "reserved": "\(FileDescriptorBudget.reserved)",
                                                    "client_connections": "\(clientCap)", "upstream_connections": "\(budget.limit)"])
        let proxy = TileProxy(
            client: HTTPClient(maxConnectionsPerEndpoint: upstreamConnections, budget: budget),
            timeouts: HTTPClientTimeouts(connect: upstreamConnectTimeout, header: upstreamTimeout, total: upstreamTimeout * 4),
            cache: cache, logger: logger)
        let revisions = Mutex<[String: Int]>([:])
        let watch = DeploymentWatch()
        let store = db.policies { change in
            proxy.update(change.name, change.deployment)
            watch.changed(change.name)
            revisions.withLock { $0[change.name] = change.deployment == nil ? nil : change.revision }
            logger.notice("policy changed", metadata: [
                "deployment": "\(change.name)", "revision": "\(change.revision)", "action": "\(change.action.rawValue)",
                "actor": "\(change.actor.tokenName)", "client": "\(change.actor.client)",
                "changed": .array(change.changedFields.map { .string($0) }),
            ])
        }
        let stored = try await store.list()
        proxy.load(stored.map(\.deployment))
        revisions.withLock { r in for d in stored { r[d.name] = d.revision } }
        let tokens = try db.tokens()
        // A given secret (environment or file) is in place before the first request; a new
        // one is made only after the bind (below).
        if adminSecret != nil { _ = try await tokens.bootstrap(environmentSecret: adminSecret) }

        var router = Router(logger: logger)
        ManagementAPI.installHealth(on: &router, ready: { try await db.checkReady() })
        if enableDebugRoutes {
            DebugRoutes.install(on: &router)
            logger.warning("debug routes enabled")
        }
        ManagementAPI(store: store, tokens: tokens, hosts: db.hosts(), tileCache: cache, watch: watch,
                      requireClientCertificate: tls.tlsClientCa != nil, logger: logger).install(on: &router)
        proxy.install(on: &router)

        // The servers' counts are read at scrape time; the servers exist only below.
        let servers = Mutex<[HTTPServer]>([])
        let snapshot: @Sendable () -> CorsdMetrics.Snapshot = {
            let counts = servers.withLock { $0.map(\.connectionCounts) }
            return CorsdMetrics.Snapshot(
                connections: ConnectionCounts(open: counts.reduce(0) { $0 + $1.open }, handling: counts.reduce(0) { $0 + $1.handling }),
                tileCacheBytes: cache.counters.bytes, revisions: revisions.withLock { $0 }, version: CorsdVersion.current,
                longPolls: watch.waiting, tlsCertificateNotAfter: tlsContext?.certificateNotAfter)
        }
        var metricsServer: HTTPServer?
        if let metricsListen {
            var metricsRouter = Router(logger: logger)
            metrics.install(on: &metricsRouter, snapshot: snapshot)
            let routes = metricsRouter
            var metricsConfiguration = HTTPServerConfiguration(address: try SocketAddress(listening: metricsListen))
            metricsConfiguration.maxConnections = 64
            metricsConfiguration.rejection = Problem.rejection
            metricsServer = HTTPServer(configuration: metricsConfiguration, logger: logger) { request, writer in routes.handle(request, writer) }
        } else {
            metrics.install(on: &router, snapshot: snapshot)
        }
        let routes = router
        let server = HTTPServer(configuration: configuration, logger: logger) { request, writer in
            routes.handle(request, writer)
        }
        servers.withLock { $0 = [server] + (metricsServer.map { [$0] } ?? []) }

        // Drained: write the pending token uses and access-log lines, then exit.
        let metricsListener = metricsServer
        var sources = installShutdownSignals(logger: logger) { done in
            metricsListener?.shutdown {}
            server.shutdown {
                Task {
                    do { try await tokens.flushUsage() } catch { logger.error("cannot record token use", metadata: ["error": "\(error)"]) }
                    accessLog?.flush()
                    done()
                }
            }
        }
        sources.append(installTLSReload(configuration.tls, logger: logger))
        // Signal handling is in place before the port is announced, so a SIGTERM sent as soon
        // as "listening on" appears is never lost (nor a SIGHUP taken for the default: exit).
        do {
            try server.start()  // first: its "listening on" line is the main port
            try metricsServer?.start()
        } catch {
            logger.critical("cannot start", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
        // Only once the port is ours: a start that fails must not use up the one showing of a
        // new admin secret.
        if adminSecret == nil, let secret = try await tokens.bootstrap(environmentSecret: nil) {
            // Printed once, to stderr only; never logged.
            FileHandle.standardError.write(Data("""
                corsd: created admin token 'bootstrap'. Its secret is shown only now; keep it safe:
                \(secret)

                """.utf8))
        }
        // Token uses reach `last_used_at` in batches: once a minute and at shutdown.
        let usageTimer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "corsd.token-use"))
        usageTimer.schedule(deadline: .now() + 60, repeating: 60)
        usageTimer.setEventHandler {
            Task {
                do { try await tokens.flushUsage() } catch { logger.error("cannot record token use", metadata: ["error": "\(error)"]) }
            }
        }
        usageTimer.resume()
        sources.append(usageTimer)
        logger.info("ready", metadata: ["version": "\(CorsdVersion.current)", "deployments": "\(stored.count)"])
        // Serves until a signal ends the process.
        defer { withExtendedLifetime(sources) {} }
        await withUnsafeContinuation { (_: UnsafeContinuation<Void, Never>) in }
    }
}

extension Serve {
    /// The bootstrap admin secret: `CORSD_ADMIN_TOKEN`, or the first line of the file
    /// `CORSD_ADMIN_TOKEN_FILE` names (Docker and systemd credentials); both set is an error.
    static func adminSecret(_ environment: [String: String]) throws -> String? {
        let direct = environment["CORSD_ADMIN_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        guard let path = environment["CORSD_ADMIN_TOKEN_FILE"], !path.isEmpty else { return direct }
        if direct != nil { throw CLIError("set CORSD_ADMIN_TOKEN or CORSD_ADMIN_TOKEN_FILE, not both") }
        do { return try ServerClient.readToken(path) } catch { throw CLIError("CORSD_ADMIN_TOKEN_FILE: \(error)") }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
extension LogFormat: ExpressibleByArgument {}

import ArgumentParser
import Dispatch
import Foundation
import HTTPCore
import HTTPRouting
import HTTPTypes
import Logging
import ManagementAPI
import PolicyStore
import TileProxy

#if canImport(Glibc)
import Glibc
#endif

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the management API and tile proxy.")

    @Option(help: "Address to listen on: IPv4 HOST:PORT or [IPv6]:PORT. Port 0 picks a free port.")
    var listen = "127.0.0.1:8080"

    @OptionGroup var database: DatabaseOptions

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

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

    @Option(help: "Seconds graceful shutdown waits for in-flight requests.")
    var shutdownGrace = 10.0

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
        do { _ = try SocketAddress(parsing: listen) } catch { throw ValidationError("--listen: \(error)") }
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
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = logLevel
            return handler
        }
        let logger = Logger(label: "corsd")
        signal(SIGPIPE, SIG_IGN)

        var configuration = HTTPServerConfiguration(address: try SocketAddress(parsing: listen))
        configuration.maxConnections = maxConnections
        configuration.limits.maxBodyBytes = maxBodyBytes
        configuration.timeouts.header = headerTimeout
        configuration.timeouts.body = bodyTimeout
        configuration.timeouts.idle = idleTimeout
        configuration.timeouts.write = writeTimeout
        configuration.shutdownGrace = shutdownGrace
        configuration.rejection = Problem.rejection

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
        let store = db.policies { name, deployment in proxy.update(name, deployment) }
        proxy.load(try await store.list().map(\.deployment))
        let tokens = try db.tokens()
        // A given secret (environment or file) is in place before the first request; a new
        // one is made only after the bind (below).
        if adminSecret != nil { _ = try await tokens.bootstrap(environmentSecret: adminSecret) }

        var router = Router(logger: logger)
        ManagementAPI.installHealth(on: &router)
        if enableDebugRoutes {
            DebugRoutes.install(on: &router)
            logger.warning("debug routes enabled")
        }
        ManagementAPI(store: store, tokens: tokens, tileCache: cache, logger: logger).install(on: &router)
        proxy.install(on: &router)
        let routes = router
        let server = HTTPServer(configuration: configuration, logger: logger) { request, writer in
            routes.handle(request, writer)
        }
        let signalQueue = DispatchQueue(label: "corsd.signals")
        var sources: [any DispatchSourceProtocol] = []
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: signalQueue)
            source.setEventHandler {
                logger.info("signal received, draining", metadata: ["signal": "\(sig)"])
                server.shutdown {
                    Task {
                        do { try await tokens.flushUsage() } catch { logger.error("cannot record token use", metadata: ["error": "\(error)"]) }
                        logger.info("stopped")
                        Glibc.exit(0)
                    }
                }
            }
            source.resume()
            sources.append(source)
        }
        // Signal handling is in place before the port is announced, so a SIGTERM sent as soon
        // as "listening on" appears is never lost.
        do {
            try server.start()
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
        let usageTimer = DispatchSource.makeTimerSource(queue: signalQueue)
        usageTimer.schedule(deadline: .now() + 60, repeating: 60)
        usageTimer.setEventHandler {
            Task {
                do { try await tokens.flushUsage() } catch { logger.error("cannot record token use", metadata: ["error": "\(error)"]) }
            }
        }
        usageTimer.resume()
        sources.append(usageTimer)
        logger.info("ready")
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
        guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("CORSD_ADMIN_TOKEN_FILE: cannot read \(path)") }
        let secret = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        if secret.isEmpty { throw CLIError("CORSD_ADMIN_TOKEN_FILE: \(path) is empty") }
        return secret
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

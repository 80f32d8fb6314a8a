import ArgumentParser
import CorsdBase
import CorsdModel
import Dispatch
import Foundation
import HTTPCore
import HTTPRouting
import HTTPTypes
import Logging
import ManagementAPI
import PolicyStore
import Observability
import Synchronization
import TileProxy

#if canImport(Glibc)
import Glibc
#endif

/// `corsd edge`: the tile proxy beside one OMERO.web, enforcing policies mirrored from the
/// central corsd, and serving through the centre's outages from a snapshot on disk.
struct Edge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve /tiles/{deployment}/… beside an OMERO.web from policies mirrored from the central corsd.",
        discussion: """
            Long-polls the centre for each --deployment, applies every change within a second, persists \
            the snapshot in --state-dir after each change and serves from it at start (before, and \
            without, reaching the centre). Reports to the centre as a host of each deployment. See docs/edge.md.
            """)

    @Option(help: "The central corsd's base URL, e.g. http://corsd.internal:8080.") var server: String
    @Option(help: "File holding the token (scope agent:<deployment>, one per deployment, or admin/read).") var tokenFile: String
    @Option(name: .customLong("deployment"), help: "A deployment to mirror and serve (repeatable).") var deployments: [String] = []
    @Option(help: "Address to listen on (same forms as serve's --listen).") var listen = "127.0.0.1:8081"
    @Option(help: "Directory for the policy snapshot (created if missing).") var stateDir: String
    @Option(help: "This edge's name in the centre's host list (default: the machine's host name).") var host: String?
    @Option(help: "Log level.") var logLevel: Logger.Level = .info
    @Option(help: "Log format on stderr: text or json.") var logFormat: LogFormat = .text
    @Option(help: "Bytes of tile responses to cache (0 disables the cache).") var tileCacheBytes = 256 << 20
    @Option(help: "Also install this host's renders, as `corsd agent --config FILE` would (one corsd unit per host).")
    var agentConfig: String?
    @OptionGroup var serverTLS: ServerTLSOptions
    @OptionGroup var tls: TLSOptions

    func validate() throws {
        if deployments.isEmpty { throw ValidationError("name at least one --deployment") }
        for d in deployments where !DeploymentValidator.isValidName(d) { throw ValidationError("--deployment: '\(d)' is not a deployment name") }
        do { _ = try SocketAddress(listening: listen) } catch { throw ValidationError("--listen: \(error)") }
        if tileCacheBytes < 0 { throw ValidationError("--tile-cache-bytes must not be negative") }
        if tls.tlsClientCa != nil { throw ValidationError("--tls-client-ca: an edge has no management API to protect with client certificates") }
    }

    func run() async throws {
        bootstrapLogging(format: logFormat, level: logLevel)
        let metrics = CorsdMetrics.bootstrap()
        let logger = Logger(label: "corsd.edge")
        signal(SIGPIPE, SIG_IGN)
        let client = try ServerClient(server: server, token: { try ServerClient.readToken(tokenFile) }, tls: serverTLS.settings)
        let url = client.url
        do { try FileManager.default.createDirectory(atPath: stateDir, withIntermediateDirectories: true) } catch { throw CLIError("--state-dir: \(error)") }

        // The agent's configuration is checked before anything starts: a mistake is an error now.
        let agentPlan: AgentPlan?
        do { agentPlan = try agentConfig.map { try AgentPlan(try AgentConfig.load($0)) } } catch { throw CLIError("--agent-config: \(error)") }
        let snapshot = EdgeSnapshot(path: stateDir + "/snapshot.json", logger: logger)
        let loaded = snapshot.load()
        let cache = TileCache(capacityBytes: tileCacheBytes)
        let proxy = TileProxy(client: HTTPClient(maxConnectionsPerEndpoint: 32), cache: cache, logger: logger)
        proxy.load(loaded.values.filter { deployments.contains($0.deployment.name) }.map(\.deployment))
        if !loaded.isEmpty { logger.info("serving from the snapshot", metadata: ["deployments": "\(loaded.keys.sorted())", "path": "\(snapshot.path)"]) }

        var router = Router(logger: logger)
        ManagementAPI.installHealth(on: &router, ready: {
            guard snapshot.hasEverLoaded else { throw CLIError("no snapshot yet: the centre has not been reached and \(snapshot.path) is absent") }
        })
        router.add(.get, "/edge/status") { _, _ in try .json(snapshot.status(centre: url.serialized)) }
        proxy.install(on: &router)
        var configuration = HTTPServerConfiguration(address: try SocketAddress(listening: listen))
        configuration.rejection = Problem.rejection
        configuration.onExchangeEnd = { metrics.record($0) }
        configuration.tls = try tls.context()
        configuration.onTLSHandshakeFailure = { metrics.countTLSHandshakeFailure($0) }
        let tlsContext = configuration.tls
        let servers = Mutex<[HTTPServer]>([])
        metrics.install(on: &router) {
            let counts = servers.withLock { $0.map(\.connectionCounts) }.first ?? ConnectionCounts(open: 0, handling: 0)
            snapshot.updateGauges(metrics)
            return CorsdMetrics.Snapshot(connections: counts, tileCacheBytes: cache.counters.bytes, revisions: snapshot.revisions, version: CorsdVersion.current,
                                         tlsCertificateNotAfter: tlsContext?.certificateNotAfter)
        }
        let routes = router
        let server = HTTPServer(configuration: configuration, logger: logger) { request, writer in routes.handle(request, writer) }
        servers.withLock { $0 = [server] }
        let signals = installShutdownSignals(logger: logger) { done in server.shutdown(completion: done) }
            + [installTLSReload(configuration.tls, logger: logger)]
        do { try server.start() } catch {
            logger.critical("cannot start", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
        let mirror = EdgeMirror(client: client, snapshot: snapshot, proxy: proxy, host: host ?? AgentPlan.machineHostName(), logger: logger)
        for name in deployments { Task { await mirror.follow(name) } }
        if let agentPlan { Task { await AgentRunner(plan: agentPlan).watch() } }
        logger.info("ready", metadata: ["version": "\(CorsdVersion.current)", "deployments": "\(deployments)"])
        defer { withExtendedLifetime(signals) {} }
        await withUnsafeContinuation { (_: UnsafeContinuation<Void, Never>) in }
    }
}

/// The mirrored policies, persisted atomically (one JSON file) after every change.
final class EdgeSnapshot: Sendable {
    struct Entry: Sendable {
        var revision: Int
        var etag: String
        var deployment: Deployment
        var document: JSONValue
        var syncedAt: Date
    }

    let path: String
    private let logger: Logger
    private struct State {
        var entries: [String: Entry] = [:]
        var everLoaded = false
        var centreReachable = false
        var lastContact: Date?
    }
    private let state = Mutex(State())

    init(path: String, logger: Logger) {
        self.path = path
        self.logger = logger
    }

    var hasEverLoaded: Bool { state.withLock { $0.everLoaded } }
    var revisions: [String: Int] { state.withLock { $0.entries.mapValues(\.revision) } }
    func entry(_ name: String) -> Entry? { state.withLock { $0.entries[name] } }

    /// Reads the file left by the last run (a missing or unreadable one is an empty snapshot).
    func load() -> [String: Entry] {
        guard let data = FileManager.default.contents(atPath: path) else { return [:] }
        guard case .success(.object(let top)) = JSONValue.parse(Array(data)), case .object(let items)? = top["deployments"] else {
            logger.error("ignoring an unreadable snapshot", metadata: ["path": "\(path)"])
            return [:]
        }
        var entries: [String: Entry] = [:]
        for (name, item) in items {
            guard case .object(let o) = item, case .number(let number)? = o["revision"], let rev = Int(exactly: number), case .string(let etag)? = o["etag"],
                  let document = o["document"], case .success(let validated) = DeploymentValidator.validate(document) else {
                logger.error("ignoring an unreadable snapshot entry", metadata: ["deployment": "\(name)"])
                continue
            }
            var synced = Date(timeIntervalSince1970: 0)
            if case .string(let at)? = o["synced_at"], let date = Timestamp.parse(at) { synced = date }
            entries[name] = Entry(revision: rev, etag: etag, deployment: validated.deployment, document: document, syncedAt: synced)
        }
        state.withLock {
            $0.entries = entries
            $0.everLoaded = true
        }
        return entries
    }

    /// Records whether the centre answered; returns whether it had answered before.
    @discardableResult
    func contact(reachable: Bool) -> Bool {
        state.withLock { s in
            let before = s.centreReachable
            s.centreReachable = reachable
            if reachable { s.lastContact = Date() }
            return before
        }
    }

    /// Records a change (nil: the deployment is gone) and writes the file.
    func apply(_ name: String, _ entry: Entry?) throws {
        let document: JSONValue = state.withLock { s in
            s.entries[name] = entry
            s.everLoaded = true
            return .object(["deployments": .object(s.entries.mapValues { e in
                .object(["revision": .number(Double(e.revision)), "etag": .string(e.etag), "document": e.document,
                         "synced_at": .string(Timestamp.format(e.syncedAt))])
            })])
        }
        var installer = FileInstaller()
        installer.mode = 0o600
        try installer.install(Array(document.prettyText().utf8), at: path)
    }

    struct Status: Encodable {
        struct Item: Encodable {
            var revision: Int
            var syncedAt: String
            var ageSeconds: Double
            enum CodingKeys: String, CodingKey { case revision; case syncedAt = "synced_at"; case ageSeconds = "age_seconds" }
        }
        var centre: String
        var centreReachable: Bool
        var lastContact: String?
        var snapshotLoaded: Bool
        var deployments: [String: Item]
        enum CodingKeys: String, CodingKey {
            case centre, deployments
            case centreReachable = "centre_reachable", lastContact = "last_contact", snapshotLoaded = "snapshot_loaded"
        }
    }

    func status(centre: String) -> Status {
        state.withLock { s in
            let now = Date()
            return Status(centre: centre, centreReachable: s.centreReachable, lastContact: s.lastContact.map { Timestamp.format($0) }, snapshotLoaded: s.everLoaded,
                          deployments: s.entries.mapValues { .init(revision: $0.revision, syncedAt: Timestamp.format($0.syncedAt), ageSeconds: now.timeIntervalSince($0.syncedAt)) })
        }
    }

    /// `corsd_edge_centre_reachable` and `corsd_edge_snapshot_age_seconds{deployment}`.
    func updateGauges(_ metrics: CorsdMetrics) {
        let status = status(centre: "")
        metrics.setGauge("corsd_edge_centre_reachable", status.centreReachable ? 1 : 0)
        for (name, item) in status.deployments { metrics.setGauge("corsd_edge_snapshot_age_seconds", labels: [("deployment", name)], item.ageSeconds) }
    }
}

/// Keeps one deployment's snapshot entry current by long-polling the centre.
struct EdgeMirror: Sendable {
    let client: ServerClient
    let snapshot: EdgeSnapshot
    let proxy: TileProxy
    let host: String
    let logger: Logger
    static let waitSeconds = 60

    func follow(_ name: String) async -> Never {
        var backoff = 1.0
        while true {
            let ok = await once(name)
            if ok {
                backoff = 1
            } else {
                try? await Task.sleep(for: .seconds(backoff * Double.random(in: 0.5...1.0)))
                backoff = min(backoff * 2, 30)
            }
        }
    }

    /// One long-poll; false when the centre could not be reached or answered an error.
    func once(_ name: String) async -> Bool {
        var fields = HTTPFields()
        let known = snapshot.entry(name)
        fields[.ifNoneMatch] = known?.etag
        let reply: ServerClient.Reply
        do {
            let wait = known == nil ? 0 : Self.waitSeconds
            reply = try await client.send(.get, "/deployments/\(name)?wait=\(wait)s", fields: fields,
                                          timeouts: HTTPClientTimeouts(connect: 5, header: Double(wait) + 30, total: Double(wait) + 60))
        } catch {
            if snapshot.contact(reachable: false) { logger.warning("centre unreachable; serving the snapshot", metadata: ["error": "\(error)"]) }
            return false
        }
        snapshot.contact(reachable: true)
        switch reply.status {
        case 304:
            return true
        case 200:
            guard let json = reply.json, case .success(let validated) = DeploymentValidator.validate(json), validated.deployment.name == name,
                  case .object(let o) = json, case .number(let number)? = o["revision"], let rev = Int(exactly: number), let etag = reply.fields[.eTag] else {
                logger.error("the centre sent a deployment this edge cannot use", metadata: ["deployment": "\(name)"])
                return false
            }
            var document = o
            for field in DeploymentValidator.readOnlyFields { document[field] = nil }
            let entry = EdgeSnapshot.Entry(revision: rev, etag: etag, deployment: validated.deployment, document: .object(document), syncedAt: Date())
            proxy.update(name, validated.deployment)
            do { try snapshot.apply(name, entry) } catch { logger.error("cannot write the snapshot", metadata: ["error": "\(error)"]) }
            logger.notice("policy applied", metadata: ["deployment": "\(name)", "revision": "\(entry.revision)"])
            await report(name, entry)
            return true
        case 404:
            if known != nil {
                proxy.update(name, nil)
                do { try snapshot.apply(name, nil) } catch { logger.error("cannot write the snapshot", metadata: ["error": "\(error)"]) }
                logger.notice("deployment deleted at the centre; no longer served", metadata: ["deployment": "\(name)"])
            }
            return false  // polled again after the back-off, in case it comes back
        default:
            logger.error("the centre refused", metadata: ["deployment": "\(name)", "reply": "\(reply.problemText)"])
            return false
        }
    }

    /// Reports as a host of the deployment: `applied` names the policy (the deployment's ETag).
    func report(_ name: String, _ entry: EdgeSnapshot.Entry) async {
        let object: [String: Any] = ["applied": ["policy": entry.etag], "revision": entry.revision, "result": "ok", "version": CorsdVersion.current]
        guard let data = try? JSONSerialization.data(withJSONObject: object) else { return }
        let body = String(decoding: data, as: UTF8.self)
        do {
            let reply = try await client.send(.put, "/deployments/\(name)/hosts/\(host)", json: body)
            if reply.status != 200 { logger.warning("cannot report to the centre", metadata: ["reply": "\(reply.problemText)"]) }
        } catch {
            logger.warning("cannot report to the centre", metadata: ["error": "\(error)"])
        }
    }
}

import CCorsdShim
import Dispatch
import HTTPTypes
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A Dispatch-based HTTP/1.1 server.
///
/// One epoll thread (`EventLoop`) reports readiness; each connection does its work on its own
/// serial queue, and all of those target one bounded concurrent queue so that a thousand
/// connections do not become a thousand threads.
///
/// ```swift
/// let server = HTTPServer(configuration: .init(address: try SocketAddress(parsing: "127.0.0.1:0"))) { req, w in
///     w.respond(HTTPResponse(status: .ok), body: Array("hi".utf8))
/// }
/// let port = try server.start()
/// ```
public final class HTTPServer: @unchecked Sendable {
    public let configuration: HTTPServerConfiguration
    public let logger: Logger
    let loop: EventLoop
    private let handler: HTTPHandler
    private let workQueue = DispatchQueue.global()

    private let state = Mutex<State>(State())
    private let shuttingDown = Atomic<Bool>(false)
    /// Connections handling a request now.
    let handling = Atomic<Int>(0)
    private var listener: Listener?
    /// The cap on concurrent connections in force (configured or derived from RLIMIT_NOFILE).
    public private(set) var connectionCap = 0

    private struct State {
        var connections: [ObjectIdentifier: ServerConnection] = [:]
        var drained: [@Sendable () -> Void] = []
    }

    public init(configuration: HTTPServerConfiguration, loop: EventLoop = .shared, logger: Logger = Logger(label: "corsd.http"), handler: @escaping HTTPHandler) {
        self.configuration = configuration
        self.loop = loop
        self.logger = logger
        self.handler = handler
    }

    /// Binds, starts accepting and returns the bound port (useful with port 0).
    @discardableResult
    public func start() throws -> Int {
        let budget = FileDescriptorBudget.raiseSoftLimit()
        connectionCap = configuration.maxConnections ?? budget.connectionCap
        let (fd, port) = try Socket.listen(on: configuration.address)
        logger.info("open-file limit", metadata: ["soft": "\(budget.softLimit)", "hard": "\(budget.hardLimit)", "connection_cap": "\(connectionCap)"])
        let listener = Listener(fd: fd, server: self)
        self.listener = listener
        listener.start()
        logger.info("listening on \(SocketAddress(host: configuration.address.host, port: port))\(configuration.tls == nil ? "" : " (TLS)")")
        return port
    }

    /// Connections currently open.
    public var openConnections: Int { state.withLock { $0.connections.count } }

    /// Open connections and those handling a request, for the metrics.
    public var connectionCounts: ConnectionCounts {
        ConnectionCounts(open: openConnections, handling: handling.load(ordering: .relaxed))
    }

    var isShuttingDown: Bool { shuttingDown.load(ordering: .relaxed) }

    /// Stops accepting, lets in-flight requests finish (closing idle connections at once) and
    /// calls `completion` when every connection is closed or the grace period has passed.
    public func shutdown(completion: @escaping @Sendable () -> Void) {
        guard !shuttingDown.exchange(true, ordering: .relaxed) else { return }
        listener?.stop()
        let connections = state.withLock { s -> [ServerConnection] in
            s.drained.append(completion)
            return Array(s.connections.values)
        }
        logger.info("shutting down", metadata: ["open_connections": "\(connections.count)"])
        for connection in connections {
            connection.queue.async { connection.shutdownRequested() }
        }
        checkDrained()
        workQueue.asyncAfter(deadline: .now() + configuration.shutdownGrace) { [self] in
            let left = state.withLock { s -> [ServerConnection] in Array(s.connections.values) }
            if !left.isEmpty {
                logger.warning("shutdown grace period over, closing connections", metadata: ["open_connections": "\(left.count)"])
                for connection in left { connection.queue.async { connection.close() } }
            }
        }
    }

    private func checkDrained() {
        let callbacks = state.withLock { s -> [@Sendable () -> Void] in
            guard s.connections.isEmpty && shuttingDown.load(ordering: .relaxed) else { return [] }
            defer { s.drained.removeAll() }
            return s.drained
        }
        for callback in callbacks { callback() }
    }

    // MARK: Called by Listener and ServerConnection

    func accepted(fd: Int32, remote: SocketAddress?) {
        let connection = ServerConnection(fd: fd, remote: remote, server: self, target: workQueue)
        state.withLock { $0.connections[ObjectIdentifier(connection)] = connection }
        connection.queue.async { [loop] in connection.start(loop: loop) }
    }

    func connectionClosed(_ connection: ServerConnection) {
        state.withLock { _ = $0.connections.removeValue(forKey: ObjectIdentifier(connection)) }
        if isShuttingDown { checkDrained() }
    }

    /// Breaks the server ↔ listener cycle once the listener is stopped.
    func releaseListener() { listener = nil }

    var atCapacity: Bool { openConnections >= connectionCap }

    func dispatch(_ request: HTTPServerRequest, _ writer: HTTPResponseWriter) {
        handler(request, writer)
    }
}

/// The listening socket. Accepts until EAGAIN; on EMFILE/ENFILE it stops listening for a
/// moment instead of spinning, and beyond the connection cap it answers 503 and closes.
final class Listener: EventHandler, @unchecked Sendable {
    let queue = DispatchQueue(label: "corsd.accept")
    let deadline = Deadline()
    private let fd: Int32
    private let server: HTTPServer
    private var generation: UInt32 = 0
    private var stopped = false
    private static let backoffSeconds = 0.1
    /// A problem+json 503, written whole without parsing anything.
    private static let refusal: [UInt8] = {
        let body = #"{"detail":"too many connections; retry later","status":503,"title":"Service Unavailable","type":"about:blank"}"#
        return Array("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\nContent-Length: \(body.utf8.count)\r\nRetry-After: 1\r\nConnection: close\r\n\r\n\(body)".utf8)
    }()

    init(fd: Int32, server: HTTPServer) {
        self.fd = fd
        self.server = server
    }

    func start() {
        queue.async { [self] in
            generation = server.loop.register(fd, handler: self)
            server.loop.arm(fd, generation: generation, events: .readable)
        }
    }

    func stop() {
        queue.sync {
            guard !stopped else { return }
            server.releaseListener()
            stopped = true
            deadline.clear()
            server.loop.deregister(fd, generation: generation)
            close(fd)
        }
    }

    func handleEvents(_ events: EventMask) {
        guard !stopped else { return }
        while true {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let client = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { corsd_accept4(fd, $0, &length) }
            }
            if client < 0 {
                switch errno {
                case EINTR, ECONNABORTED, EPROTO:
                    continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    server.logger.warning("accept failed, pausing", metadata: ["error": "\(SocketError.system("accept4", errno))"])
                    deadline.set(after: Self.backoffSeconds)
                    return  // not re-armed until the deadline
                default:
                    server.loop.arm(fd, generation: generation, events: .readable)
                    return
                }
            }
            if server.atCapacity {
                // Over TLS a plaintext answer would be noise: the client just sees the close.
                if server.configuration.tls == nil {
                    _ = Self.refusal.withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
                }
                close(client)
                continue
            }
            let remote = withUnsafePointer(to: &storage) { SocketAddress.from($0) }
            server.accepted(fd: client, remote: remote)
        }
    }

    func handleDeadline() {
        guard !stopped else { return }
        server.loop.arm(fd, generation: generation, events: .readable)
    }
}

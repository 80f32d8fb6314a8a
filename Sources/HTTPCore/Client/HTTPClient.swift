import DequeModule
import Dispatch
import HTTPTypes
import Synchronization

/// An HTTP/1.1 client with a bounded keep-alive pool per upstream, on the same epoll loop and
/// message parser as the server.
///
/// A request waits for a pooled connection when its upstream already has
/// `maxConnectionsPerEndpoint` open, so the client never opens unbounded descriptors. A
/// request that fails on a reused connection before any response byte arrived (the upstream
/// closed it while it sat idle) is retried once on a new connection if it is idempotent.
public final class HTTPClient: Sendable {
    public let maxConnectionsPerEndpoint: Int
    /// How long an unused pooled connection is kept.
    public let idleTimeout: Double
    /// Turns an endpoint into an address; runs on a resolver queue, off the I/O path.
    public typealias Resolver = @Sendable (UpstreamEndpoint) throws -> SocketAddress
    let resolve: Resolver
    /// Literal addresses directly, host names through getaddrinfo.
    public static let systemResolver: Resolver = { try SocketAddress.resolve(host: $0.host, port: $0.port) }
    let loop: EventLoop
    private let pools = Mutex<[UpstreamEndpoint: ConnectionPool]>([:])
    let workQueue = DispatchQueue.global()
    /// Shared with the server: every upstream socket counts against it (nil: unbounded).
    let budget: DescriptorBudget?

    public init(loop: EventLoop = .shared, maxConnectionsPerEndpoint: Int = 32, idleTimeout: Double = 30,
                budget: DescriptorBudget? = nil, resolver: @escaping Resolver = HTTPClient.systemResolver) {
        self.loop = loop
        self.budget = budget
        self.resolve = resolver
        self.maxConnectionsPerEndpoint = max(1, maxConnectionsPerEndpoint)
        self.idleTimeout = idleTimeout
    }

    /// Sends `request`; the response streams to `handler`. Returns a task that can cancel it.
    @discardableResult
    public func execute(_ request: HTTPClientRequest, handler: HTTPClientResponseHandler) -> HTTPClientTask {
        let exchange = ClientExchange(request: request, handler: handler)
        let task = HTTPClientTask(exchange: exchange)
        exchange.totalDeadline = monotonicNanos() &+ UInt64(request.timeouts.total * 1e9)
        pool(for: request.endpoint).lease(exchange, forceNew: false)
        return task
    }

    /// Sends `request` and collects the whole response.
    /// Sends `request` and collects the whole response; a body beyond `maxBodyBytes` ends the
    /// exchange with an error instead of filling memory (the server may be anything).
    public func execute(_ request: HTTPClientRequest, maxBodyBytes: Int = 64 << 20,
                        completion: @escaping @Sendable (Result<HTTPClientResponse, HTTPClientError>) -> Void) {
        struct Collected {
            var head: ResponseHead?
            var body: [UInt8] = []
            var done = false
            var task: HTTPClientTask?
        }
        let collected = Mutex(Collected())
        /// Completes once, and lets go of the task (it holds the handler, which holds this).
        let finish: @Sendable (Result<HTTPClientResponse, HTTPClientError>) -> Void = { result in
            let first = collected.withLock { c -> Bool in
                defer { c.done = true; c.task = nil }
                return !c.done
            }
            if first { completion(result) }
        }
        let task = execute(request, handler: HTTPClientResponseHandler(
            onHead: { head in collected.withLock { $0.head = head } },
            onBody: { bytes, resume in
                let over = collected.withLock { c -> HTTPClientTask?? in
                    guard c.body.count + bytes.count <= maxBodyBytes else { return .some(c.task) }
                    c.body.append(contentsOf: bytes)
                    return nil
                }
                guard let task = over else { return resume() }
                finish(.failure(.invalidResponse("a response body larger than \(maxBodyBytes) bytes")))
                task?.cancel()
            },
            onEnd: {
                let (head, body) = collected.withLock { ($0.head, $0.body) }
                guard let head else { return finish(.failure(.invalidResponse("the exchange ended without a response head"))) }
                finish(.success(HTTPClientResponse(head: head, body: body)))
            },
            onError: { finish(.failure($0)) }))
        // Kept only while the exchange runs (so a body over the limit can cancel it).
        let finishedAlready = collected.withLock { c -> Bool in
            if !c.done { c.task = task }
            return c.done
        }
        if finishedAlready { task.cancel() }  // nothing if it ended normally; stops one cut off by the limit
    }

    /// Sends `request` and returns the whole response.
    public func execute(_ request: HTTPClientRequest) async throws(HTTPClientError) -> HTTPClientResponse {
        let result = await withCheckedContinuation { continuation in
            execute(request) { continuation.resume(returning: $0) }
        }
        return try result.get()
    }

    /// Open connections (idle and busy) to `endpoint`, for tests and metrics.
    public func connectionCount(to endpoint: UpstreamEndpoint) -> Int {
        pools.withLock { $0[endpoint] }?.counts.total ?? 0
    }

    /// TLS connections to `endpoint` that resumed an earlier session.
    public func connectionsResumed(to endpoint: UpstreamEndpoint) -> Int {
        pools.withLock { $0[endpoint] }?.counts.resumed ?? 0
    }

    /// Idle pooled connections to `endpoint`.
    public func idleConnectionCount(to endpoint: UpstreamEndpoint) -> Int {
        pools.withLock { $0[endpoint] }?.counts.idle ?? 0
    }

    /// Connections opened to `endpoint` since start (reuse shows as a small number).
    public func connectionsOpened(to endpoint: UpstreamEndpoint) -> Int {
        pools.withLock { $0[endpoint] }?.counts.opened ?? 0
    }

    /// Closes one idle pooled connection, whichever upstream it is to, to give its descriptor
    /// back. Returns whether there was one.
    @discardableResult
    func evictIdleConnection() -> Bool {
        let all = pools.withLock { Array($0.values) }
        return all.contains { $0.evictIdle() }
    }

    func pool(for endpoint: UpstreamEndpoint) -> ConnectionPool {
        pools.withLock { pools in
            if let pool = pools[endpoint] { return pool }
            let pool = ConnectionPool(endpoint: endpoint, client: self)
            pools[endpoint] = pool
            return pool
        }
    }
}

/// A handle on an exchange in progress.
public final class HTTPClientTask: Sendable {
    let exchange: ClientExchange
    init(exchange: ClientExchange) { self.exchange = exchange }

    /// Abandons the exchange: its connection is closed (it cannot be reused mid-response)
    /// and `onError(.cancelled)` is delivered unless the exchange already ended.
    public func cancel() { exchange.cancel() }
}

/// One request/response in flight, possibly moved to a second connection by the retry rule.
final class ClientExchange: @unchecked Sendable {
    let request: HTTPClientRequest
    let handler: HTTPClientResponseHandler
    var totalDeadline: UInt64 = 0
    var retried = false
    private let state = Mutex<(finished: Bool, connection: ClientConnection?)>((false, nil))

    init(request: HTTPClientRequest, handler: HTTPClientResponseHandler) {
        self.request = request
        self.handler = handler
    }

    var isFinished: Bool { state.withLock { $0.finished } }

    func attach(_ connection: ClientConnection) { state.withLock { $0.connection = connection } }

    /// Marks the exchange finished; returns false if it already was (callbacks go out once).
    func finish() -> Bool {
        state.withLock { s in
            if s.finished { return false }
            s.finished = true
            s.connection = nil
            return true
        }
    }

    func cancel() {
        let connection = state.withLock { $0.connection }
        if let connection {
            connection.queue.async { connection.cancel(self) }
        } else if finish() {
            handler.onError(.cancelled)
        }
    }
}

/// The connections to one upstream: idle ones (most recently used first), a count of all,
/// and requests waiting for a free slot.
final class ConnectionPool: @unchecked Sendable {
    let endpoint: UpstreamEndpoint
    let loop: EventLoop
    let workQueue: DispatchQueue
    let maxConnections: Int
    let idleTimeout: Double
    let resolve: HTTPClient.Resolver
    let budget: DescriptorBudget?
    /// For evicting idle connections of other upstreams when the budget is spent.
    private weak var client: HTTPClient?
    private let state = Mutex<State>(State())

    struct State {
        var idle: [ClientConnection] = []
        var total = 0
        var opened = 0
        /// Requests waiting for a connection, oldest first.
        var waiters = Deque<ClientExchange>()
        /// The TLS session the next connection offers for resumption.
        var session: TLSSession?
        /// TLS connections that resumed a session (an abbreviated handshake).
        var resumed = 0
        /// When the one pending waiter-expiry timer fires (0: none pending).
        var expiryAt: UInt64 = 0
    }

    init(endpoint: UpstreamEndpoint, client: HTTPClient) {
        self.endpoint = endpoint
        self.loop = client.loop
        self.workQueue = client.workQueue
        self.maxConnections = client.maxConnectionsPerEndpoint
        self.idleTimeout = client.idleTimeout
        self.resolve = client.resolve
        self.budget = client.budget
        self.client = client
    }

    var counts: (total: Int, idle: Int, opened: Int, resumed: Int) { state.withLock { ($0.total, $0.idle.count, $0.opened, $0.resumed) } }

    /// The session a new TLS connection offers (the most recent one a server handed out).
    var resumableSession: TLSSession? { state.withLock { $0.session } }

    /// A TLS connection's first exchange ended: its session (if resumable) is the one to offer next.
    func offer(session: TLSSession?, resumed: Bool) {
        state.withLock { s in
            if let session { s.session = session }
            if resumed { s.resumed += 1 }
        }
    }

    /// Gives `exchange` a connection: an idle one, a new one, or a place in the queue.
    func lease(_ exchange: ClientExchange, forceNew: Bool) {
        enum Choice { case reuse(ClientConnection), open(ClientConnection), wait, noDescriptors }
        let choice: Choice = state.withLock { s in
            if !forceNew, let connection = s.idle.popLast() { return .reuse(connection) }
            if s.total < maxConnections {
                guard budget?.acquire() ?? true else { return .noDescriptors }
                s.total += 1
                s.opened += 1
                return .open(ClientConnection(pool: self))
            }
            if forceNew, let victim = s.idle.first {
                // The retry needs a fresh connection and the pool is full: close an idle one.
                guard budget?.acquire() ?? true else { return .noDescriptors }
                s.idle.removeFirst()
                victim.queue.async { victim.close() }
                s.total += 1
                s.opened += 1
                return .open(ClientConnection(pool: self))
            }
            s.waiters.append(exchange)
            return .wait
        }
        switch choice {
        case .reuse(let connection):
            connection.queue.async { connection.begin(exchange, reused: true) }
        case .open(let connection):
            connection.queue.async { connection.begin(exchange, reused: false) }
        case .noDescriptors:
            // Fail fast rather than wait on a budget that may not free up; an idle connection
            // elsewhere gives its descriptor back for the next request.
            client?.evictIdleConnection()
            if exchange.finish() { exchange.handler.onError(.noDescriptors) }
        case .wait:
            scheduleExpiry(at: exchange.totalDeadline)
        }
    }

    /// Waiters time out by one timer per pool, not one per waiter: a timer holds what it
    /// captures until it fires, so a timer per waiting request would keep every request that
    /// ever waited (its handler, its response writer) alive for the whole total timeout.
    private func scheduleExpiry(at deadline: UInt64) {
        let schedule = state.withLock { s -> Bool in
            guard s.expiryAt == 0 || deadline < s.expiryAt else { return false }
            s.expiryAt = deadline
            return true
        }
        guard schedule else { return }
        let delay = Double(Int64(bitPattern: deadline &- monotonicNanos())) / 1e9
        workQueue.asyncAfter(deadline: .now() + max(0, delay)) { [weak self] in self?.expireWaiters() }
    }

    /// Fails the waiters whose total deadline has passed and schedules the next expiry.
    private func expireWaiters() {
        let now = monotonicNanos()
        let (expired, next) = state.withLock { s -> (Deque<ClientExchange>, UInt64) in
            let expired = s.waiters.filter { $0.totalDeadline <= now || $0.isFinished }
            if !expired.isEmpty { s.waiters.removeAll { $0.totalDeadline <= now || $0.isFinished } }
            s.expiryAt = 0
            return (expired, s.waiters.lazy.map(\.totalDeadline).min() ?? 0)
        }
        for exchange in expired where exchange.finish() { exchange.handler.onError(.totalTimeout) }
        if next != 0 { scheduleExpiry(at: next) }
    }

    /// A connection finished an exchange and can be reused: it goes to the first waiter, or
    /// back to the idle list.
    func release(_ connection: ClientConnection) {
        let waiter: ClientExchange? = state.withLock { s in
            if !s.waiters.isEmpty { return s.waiters.removeFirst() }
            s.idle.append(connection)
            return nil
        }
        if let waiter {
            connection.queue.async { connection.begin(waiter, reused: true) }
        } else {
            connection.queue.async { connection.enterIdle() }
        }
    }

    /// A connection closed: forget it and let a waiter open a new one.
    func closed(_ connection: ClientConnection) {
        budget?.release()
        let next: ClientExchange? = state.withLock { s in
            s.idle.removeAll { $0 === connection }
            s.total -= 1
            return s.waiters.isEmpty ? nil : s.waiters.removeFirst()
        }
        // The slot is free: the first waiter leases again (a new connection, budget permitting).
        if let next { lease(next, forceNew: false) }
    }

    /// Closes the least recently used idle connection, if any.
    func evictIdle() -> Bool {
        let victim: ClientConnection? = state.withLock { s in s.idle.isEmpty ? nil : s.idle.removeFirst() }
        guard let victim else { return false }
        victim.queue.async { victim.close() }
        return true
    }

    /// Takes an idle connection out of the pool if it is still there (it saw EOF or timed out).
    func removeIdle(_ connection: ClientConnection) -> Bool {
        state.withLock { s in
            guard let i = s.idle.firstIndex(where: { $0 === connection }) else { return false }
            s.idle.remove(at: i)
            return true
        }
    }
}

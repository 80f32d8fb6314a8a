import CCorsdShim
import Dispatch
import HTTPTypes

#if canImport(Glibc)
import Glibc
#endif

/// One upstream connection. State is confined to `queue`.
final class ClientConnection: EventHandler, @unchecked Sendable {
    private enum Phase {
        case fresh
        case resolving
        case connecting
        /// Request (partly) sent, waiting for the head.
        case awaitingHead
        case readingBody
        case idle
        case closed
    }

    let queue: DispatchQueue
    let deadline = Deadline()
    private let pool: ConnectionPool
    private var fd: Int32 = -1
    /// Plain or TLS once connected.
    private var transport = StreamTransport(fd: -1, tls: nil)
    /// This connection's session went to the pool for the next connection to resume.
    private var sessionOffered = false
    private var generation: UInt32 = 0
    private var phase = Phase.fresh
    private var parser = HTTPParser(mode: .response(requestMethod: .get), limits: .upstreamResponse)
    private var outbound = OutboundBuffer()
    private var exchange: ClientExchange?
    private var reused = false
    private var receivedAny = false
    private var paused = false
    private var inputClosed = false
    private var keepAlive = false
    /// The phase deadline that is not the exchange's total deadline.
    private var phaseDeadline: UInt64 = 0

    private static let resolver = DispatchQueue(label: "corsd.resolver", attributes: .concurrent)

    init(pool: ConnectionPool) {
        self.pool = pool
        self.queue = DispatchQueue(label: "corsd.upstream", target: pool.workQueue)
    }

    private var loop: EventLoop { pool.loop }

    // MARK: Exchange

    func begin(_ exchange: ClientExchange, reused: Bool) {
        guard !exchange.isFinished else {
            // Cancelled or timed out while waiting: hand the connection on.
            if phase == .idle { pool.release(self) } else { close() }
            return
        }
        if phase == .closed || (reused && !stillUsable()) {
            // The upstream closed it while it sat in the pool: try a new connection.
            if phase != .closed { close() }
            pool.lease(exchange, forceNew: true)
            return
        }
        self.exchange = exchange
        self.reused = reused
        receivedAny = false
        paused = false
        exchange.attach(self)
        parser = HTTPParser(mode: .response(requestMethod: exchange.request.method), limits: .upstreamResponse)
        if phase == .fresh {
            connect(exchange.request)
        } else {
            sendRequest()
        }
    }

    /// EOF check before reuse: an idle keep-alive connection must have nothing to read.
    private func stillUsable() -> Bool {
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)
    }

    private func connect(_ request: HTTPClientRequest) {
        phase = .resolving
        setPhaseDeadline(request.timeouts.connect)
        let endpoint = request.endpoint
        // The loop only watches registered sockets; name resolution has no socket yet.
        queue.asyncAfter(deadline: .now() + request.timeouts.connect) { [self] in
            if phase == .resolving { fail(.connectTimeout, retryable: false) }
        }
        Self.resolver.async { [self] in
            let result = Result { try pool.resolve(endpoint) }
            queue.async { [self] in
                guard phase == .resolving else { return }
                switch result {
                case .failure(let error):
                    fail(.resolveFailed("\(error)"), retryable: false)
                case .success(let address):
                    startConnect(to: address)
                }
            }
        }
    }

    private func startConnect(to address: SocketAddress) {
        fd = corsd_socket_nonblocking(address.family, Int32(SOCK_STREAM.rawValue))
        guard fd >= 0 else {
            fail(.connectFailed(SocketError.system("socket", errno).description), retryable: false)
            return
        }
        Socket.setNoDelay(fd)
        generation = loop.register(fd, handler: self)
        phase = .connecting
        transport = StreamTransport(fd: fd, tls: nil)
        let rc = try? address.withSockaddr { Glibc.connect(fd, $0, $1) }
        if rc == 0 {
            connected()
        } else if errno == EINPROGRESS {
            loop.arm(fd, generation: generation, events: .writable)
        } else {
            fail(.connectFailed(SocketError.system("connect \(address)", errno).description), retryable: false)
        }
    }

    /// TCP is up: start TLS for an https endpoint (the handshake runs inside the first
    /// writes and reads), then send.
    private func connected() {
        if let context = pool.endpoint.tls {
            guard let tls = context.connect(fd: fd, host: pool.endpoint.host, session: pool.resumableSession) else {
                fail(.tlsFailed("cannot start a TLS session"), retryable: false)
                return
            }
            transport = StreamTransport(fd: fd, tls: tls)
        }
        sendRequest()
    }

    private func sendRequest() {
        guard let exchange else { return }
        let request = exchange.request
        var all = HTTPFields()
        all.reserveCapacity(request.headerFields.count + 2)
        all.append(HTTPField(name: .hostField, value: request.endpoint.hostField))
        for field in request.headerFields where !Self.setByClient(field.name) { all.append(field) }
        if !request.body.isEmpty || request.method == .post || request.method == .put || request.method == .patch {
            all.append(HTTPField(name: .contentLength, value: String(request.body.count)))
        }
        outbound.append(MessageSerializer.requestHead(method: request.method, target: request.target, fields: all))
        outbound.append(request.body)
        phase = .awaitingHead
        setPhaseDeadline(request.timeouts.header)
        flushAndArm()
    }

    /// Fields the client writes itself (framing, connection management, Host).
    private static func setByClient(_ name: HTTPField.Name) -> Bool {
        name == .connection || name == .transferEncoding || name == .contentLength || name == .keepAlive || name == .hostField
    }

    // MARK: EventHandler

    func handleEvents(_ events: EventMask) {
        switch phase {
        case .connecting:
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            if error != 0 || events.contains(.error) {
                fail(.connectFailed(SocketError.system("connect \(pool.endpoint)", error == 0 ? ECONNREFUSED : error).description), retryable: false)
                return
            }
            connected()
        case .awaitingHead, .readingBody:
            if events.peerGone { inputClosed = true }
            if events.contains(.writable) || !outbound.isEmpty {
                guard flush() else { return }
            }
            if !paused { readAndProcess() }
            if phase != .closed && phase != .idle { arm() }
        case .idle:
            // Readable while idle means EOF or junk: this connection cannot be reused.
            if pool.removeIdle(self) { close() }
        case .fresh, .resolving, .closed:
            break
        }
    }

    func handleDeadline() {
        let now = monotonicNanos()
        switch phase {
        case .idle:
            if pool.removeIdle(self) { close() }
        case .resolving, .connecting:
            fail(now >= (exchange?.totalDeadline ?? .max) ? .totalTimeout : .connectTimeout, retryable: false)
        case .awaitingHead:
            fail(now >= (exchange?.totalDeadline ?? .max) ? .totalTimeout : .headerTimeout, retryable: false)
        case .readingBody:
            fail(.totalTimeout, retryable: false)
        case .fresh, .closed:
            break
        }
    }

    // MARK: I/O

    /// Returns false if the connection failed.
    private func flush() -> Bool {
        if case .failed(let reason) = outbound.flush(to: transport) {
            failIO(reason)
            return false
        }
        return true
    }

    /// A write failed: during the TLS handshake that is the upstream's certificate or protocol;
    /// after it, a closed connection (as over TCP).
    private func failIO(_ reason: String) {
        if !failedHandshake(reason) { fail(.connectionClosed, retryable: true) }
    }

    /// A read or write failed during the TLS handshake: the exchange fails with the reason as
    /// it is (a certificate, a protocol), never retried. False after the handshake.
    private func failedHandshake(_ reason: String) -> Bool {
        guard let tls = transport.tls, !tls.handshakeDone else { return false }
        fail(.tlsFailed(reason), retryable: false)
        return true
    }

    private func flushAndArm() {
        guard flush() else { return }
        arm()
    }

    private func arm() {
        if !paused && transport.hasBufferedInput {
            // Input already inside OpenSSL: epoll would never report it.
            queue.async { [self] in handleEvents(.readable) }
            return
        }
        let events = transport.interest(read: !paused, write: !outbound.isEmpty)
        if !events.isEmpty { loop.arm(fd, generation: generation, events: events) }
    }

    private func readAndProcess() {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 65536) { buffer in
            reading: while true {
                switch transport.read(into: buffer) {
                case .bytes(let n):
                    receivedAny = true
                    parser.feed(UnsafeBufferPointer(rebasing: buffer[0..<n]))
                    // A short read drained the socket (not so over TLS: one record per read).
                    if n < buffer.count && !inputClosed && transport.tls == nil { break reading }
                    if parser.bufferedByteCount > 256 * 1024 { break reading }
                case .endOfStream:
                    inputClosed = true
                    break reading
                case .wouldBlock:
                    break reading
                case .failed(let reason):
                    if failedHandshake(reason) { return }
                    inputClosed = true
                    break reading
                }
            }
        }
        guard phase != .closed else { return }
        process()
    }

    private func process() {
        while let exchange, !paused, phase == .awaitingHead || phase == .readingBody {
            var event: HTTPParserEvent?
            do throws(HTTPParseError) {
                event = try parser.next()
                if event == nil && inputClosed { event = try parser.finish() }
            } catch {
                fail(inputClosed ? .connectionClosed : .invalidResponse(error.reason), retryable: true)
                return
            }
            guard let event else {
                if inputClosed { fail(.connectionClosed, retryable: true) }
                return
            }
            switch event {
            case .responseHead(let head):
                phase = .readingBody
                keepAlive = head.keepAlive
                phaseDeadline = 0
                deadline.set(atNanos: exchange.totalDeadline)
                exchange.handler.onHead(head)
            case .body(let bytes):
                paused = true
                exchange.handler.onBody(bytes) { [self] in
                    queue.async { [self] in
                        guard paused, self.exchange === exchange else { return }
                        paused = false
                        process()
                        if phase == .awaitingHead || phase == .readingBody { arm() }
                    }
                }
            case .end:
                complete(exchange)
                return
            case .requestHead:
                preconditionFailure("response parser produced a request head")
            }
        }
    }

    private func complete(_ exchange: ClientExchange) {
        self.exchange = nil
        deadline.clear()
        if let tls = transport.tls, !sessionOffered {
            // By now a TLS 1.3 server's tickets have arrived: the next connection resumes.
            sessionOffered = true
            pool.offer(session: tls.session(), resumed: tls.sessionReused)
        }
        // Back in the pool before the caller hears of it, so its next request can reuse it.
        if keepAlive && !inputClosed && parser.bufferedByteCount == 0 {
            phase = .idle
            pool.release(self)
        } else {
            close()
        }
        if exchange.finish() { exchange.handler.onEnd() }
    }

    func enterIdle() {
        guard phase == .idle, exchange == nil else { return }
        deadline.set(after: pool.idleTimeout)
        loop.arm(fd, generation: generation, events: .readable)
    }

    /// Ends the exchange with `error`. The one retry: an idempotent request that failed on a
    /// reused connection before any response byte is sent again on a new connection.
    private func fail(_ error: HTTPClientError, retryable: Bool) {
        guard let exchange else {
            close()
            return
        }
        self.exchange = nil
        let retry = retryable && reused && !receivedAny && !exchange.retried && exchange.request.isIdempotent
        close()
        if retry {
            exchange.retried = true
            pool.lease(exchange, forceNew: true)
        } else if exchange.finish() {
            exchange.handler.onError(error)
        }
    }

    func cancel(_ exchange: ClientExchange) {
        guard self.exchange === exchange else { return }
        self.exchange = nil
        close()
        if exchange.finish() { exchange.handler.onError(.cancelled) }
    }

    private func setPhaseDeadline(_ seconds: Double) {
        let phaseEnd = monotonicNanos() &+ UInt64(seconds * 1e9)
        phaseDeadline = phaseEnd
        deadline.set(atNanos: min(phaseEnd, exchange?.totalDeadline ?? phaseEnd))
    }

    func close() {
        guard phase != .closed else { return }
        let hadSocket = fd >= 0
        phase = .closed
        deadline.clear()
        outbound.removeAll()
        if hadSocket {
            transport.tls?.shutdown()
            loop.deregister(fd, generation: generation)
            Glibc.close(fd)
            fd = -1
        }
        pool.closed(self)
    }
}

import Dispatch
import HTTPTypes

#if canImport(Glibc)
import Glibc
#endif

/// One accepted client connection. All state is confined to `queue` (hence `@unchecked
/// Sendable`): epoll events, deadlines and response-writer calls all arrive there.
///
/// Requests are handled one at a time; bytes of pipelined requests stay in the parser until
/// the previous response has been written, which keeps responses in order.
final class ServerConnection: EventHandler, @unchecked Sendable {
    private enum Phase {
        /// Waiting for the first byte of a request (a fresh or kept-alive connection).
        case idle
        case readingHead
        case readingBody
        /// The handler has the request; the response may be partly written.
        case handling
        /// Response sent, write side shut, discarding input until the client closes.
        case lingering
        case closed
    }

    private enum ResponseState {
        case notStarted
        /// `remaining`: body bytes still owed under a Content-Length (nil: chunked or close-delimited).
        case streaming(chunked: Bool, headOnly: Bool, remaining: Int?)
        case ended
    }

    let queue: DispatchQueue
    let deadline = Deadline()
    private let fd: Int32
    /// Reads and writes, through TLS when the listener has it.
    private let transport: StreamTransport
    /// The verified client certificate's subject, read once the handshake is done.
    private var tlsInfo: TLSConnectionInfo?
    private var generation: UInt32 = 0
    private let server: HTTPServer
    private let remote: SocketAddress?

    private var parser: HTTPParser
    private var outbound = OutboundBuffer()
    private var phase = Phase.idle
    private var peerGone = false
    private var inputClosed = false
    private var isFirstRequest = true

    // The exchange in progress.
    private var head: RequestHead?
    private var body: [UInt8] = []
    private var exchangeID: UInt64 = 0
    private var response = ResponseState.notStarted
    private var closeAfterResponse = false
    private var flushWaiters: [@Sendable () -> Void] = []
    private var lingerDiscarded = 0
    /// Told when the connection dies before the response ended (a streaming producer stops).
    private var cancelHandler: (@Sendable () -> Void)?
    /// For `onExchangeEnd`: the exchange's notes, method, start, status and body bytes.
    private var notes = ExchangeNotes()
    private var exchangeMethod: HTTPRequest.Method?
    private var exchangeStart: UInt64 = 0
    private var responseStatus = 0
    private var bodyBytesSent = 0
    /// Whether the exchange in progress was counted as handling (and reported at its end).
    private var inExchange = false

    /// Output above this many bytes makes producers wait for `onFlushed`.
    private static let highWater = 256 * 1024
    /// Unparsed input above this stops reading (pipelined requests queue in the kernel).
    private static let maxBufferedInput = 64 * 1024

    /// Marks each connection's queue, so a writer called from it can act at once.
    static let queueKey = DispatchSpecificKey<ObjectIdentifier>()
    /// The epoll interest currently armed; nil once it fired (one-shot) or was never armed.
    private var armed: EventMask?
    private var inProcessInput = false
    /// Inside `handleEvents`, which re-arms once at its end.
    private var inEvent = false

    init(fd: Int32, remote: SocketAddress?, server: HTTPServer, target: DispatchQueue) {
        self.fd = fd
        self.transport = StreamTransport(fd: fd, tls: server.configuration.tls?.accept(fd: fd))
        self.remote = remote
        self.server = server
        self.queue = DispatchQueue(label: "corsd.conn", target: target)
        var parser = HTTPParser(mode: .request, limits: server.configuration.limits)
        parser.acceptsAbsoluteForm = false
        self.parser = parser
        queue.setSpecific(key: Self.queueKey, value: ObjectIdentifier(self))
    }

    /// Called once after accept, on `queue`.
    func start(loop: EventLoop) {
        generation = loop.register(fd, handler: self)
        if server.configuration.tls != nil && transport.tls == nil {
            server.logger.error("cannot start a TLS session", metadata: ["peer": "\(remote?.description ?? "?")"])
            close()
            return
        }
        Socket.setNoDelay(fd)
        deadline.set(after: server.configuration.timeouts.header)
        armed = .readable
        loop.arm(fd, generation: generation, events: .readable)
    }

    // MARK: EventHandler

    /// Runs `work` now if already on this connection's queue (a handler answering
    /// synchronously), else queues it.
    func perform(_ work: @escaping @Sendable () -> Void) {
        if DispatchQueue.getSpecific(key: Self.queueKey) == ObjectIdentifier(self) { work() } else { queue.async(execute: work) }
    }

    func handleEvents(_ events: EventMask) {
        armed = nil
        guard phase != .closed else { return }
        inEvent = true
        defer {
            inEvent = false
            rearm()
        }
        if events.peerGone { peerGone = true }
        if events.contains(.error) {
            close()
            return
        }
        if events.contains(.writable) || !outbound.isEmpty {
            flush()
            guard phase != .closed else { return }
        }
        if wantsInput || peerGone || phase == .lingering {
            readInput()
            guard phase != .closed else { return }
            if phase == .lingering {
                if inputClosed { close() }
                return
            }
            processInput()
        }
    }

    func handleDeadline() {
        switch phase {
        case .idle where isFirstRequest && transport.tls?.handshakeDone == false:
            // The handshake counts in the header timeout; there is no channel to answer on.
            server.logger.debug("TLS handshake timeout", metadata: ["peer": "\(remote?.description ?? "?")"])
            server.configuration.onTLSHandshakeFailure?("timeout")
            close()
        case .idle where isFirstRequest, .readingHead:
            server.logger.debug("request head timeout", metadata: ["peer": "\(remote?.description ?? "?")"])
            reject(HTTPParseError(.requestTimeout, "request head not received in time"))
        case .readingBody:
            reject(HTTPParseError(.requestTimeout, "request body not received in time"))
        case .idle, .lingering:
            close()
        case .handling:
            // Only a blocked write sets a deadline while handling.
            server.logger.debug("write timeout", metadata: ["peer": "\(remote?.description ?? "?")"])
            close()
        case .closed:
            break
        }
    }

    // MARK: Input

    private var wantsInput: Bool {
        switch phase {
        case .idle, .readingHead, .readingBody: return parser.bufferedByteCount < Self.maxBufferedInput
        case .handling, .closed, .lingering: return false
        }
    }

    private func readInput() {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 65536) { buffer in
            // Bounded per event for fairness; a sticky hang-up keeps us reading until EOF.
            for _ in 0..<8 {
                // Lingering discards raw bytes: after close_notify nothing needs decrypting.
                let result = phase == .lingering ? StreamTransport(fd: fd, tls: nil).read(into: buffer) : transport.read(into: buffer)
                switch result {
                case .bytes(let n):
                    if phase == .lingering {
                        lingerDiscarded += n
                        if lingerDiscarded > 1 << 20 { inputClosed = true; return }
                    } else {
                        noteHandshake()
                        parser.feed(UnsafeBufferPointer(rebasing: buffer[0..<n]))
                    }
                    // A short read drained the socket (not so over TLS: one record per read).
                    if n < buffer.count && !peerGone && transport.tls == nil { return }
                    if parser.bufferedByteCount >= Self.maxBufferedInput { return }
                case .endOfStream:
                    inputClosed = true
                    return
                case .wouldBlock:
                    noteHandshake()
                    return
                case .failed(let reason):
                    // ECONNRESET, a TLS alert or a bad record: nothing more can be said to this peer.
                    if transport.tls != nil && tlsInfo == nil {
                        server.logger.debug("TLS handshake failed", metadata: ["peer": "\(remote?.description ?? "?")", "reason": "\(reason)"])
                        server.configuration.onTLSHandshakeFailure?("error")
                    }
                    inputClosed = true
                    outbound.removeAll()
                    close()
                    return
                }
            }
        }
    }

    private func processInput() {
        // A handler that answers at once finishes its exchange from inside this loop; the
        // loop then goes on with pipelined requests instead of recursing.
        guard !inProcessInput else { return }
        inProcessInput = true
        defer { inProcessInput = false }
        while phase == .idle || phase == .readingHead || phase == .readingBody {
            var event: HTTPParserEvent?
            do {
                event = try parser.next()
            } catch {
                reject(error)
                return
            }
            if event == nil && inputClosed {
                // The client closed its side: a request cut short has nobody left to answer.
                event = try? parser.finish()
                if event == nil { close(); return }
            }
            guard let event else {
                if inputClosed {
                    close()
                } else if phase == .idle && parser.bufferedByteCount > 0 {
                    phase = .readingHead
                    deadline.set(after: server.configuration.timeouts.header)
                }
                return
            }
            switch event {
            case .requestHead(let h):
                head = h
                body = []
                if case .none = h.framing {
                    continue
                }
                phase = .readingBody
                deadline.set(after: server.configuration.timeouts.body)
                if h.expectsContinue {
                    outbound.append(MessageSerializer.continueResponse)
                    flush()
                }
            case .body(let bytes):
                body.append(contentsOf: bytes)
            case .end:
                dispatchRequest()
            case .responseHead:
                preconditionFailure("request parser produced a response head")
            }
        }
    }

    /// Once the handshake is done: the protocol and the verified client certificate, for requests.
    private func noteHandshake() {
        guard tlsInfo == nil, let tls = transport.tls, tls.handshakeDone else { return }
        tlsInfo = TLSConnectionInfo(protocolName: tls.protocolName, peerSubject: tls.peerSubject)
    }

    private func dispatchRequest() {
        guard let head else { return }
        phase = .handling
        isFirstRequest = false
        deadline.clear()
        exchangeID &+= 1
        response = .notStarted
        if !head.keepAlive || server.isShuttingDown { closeAfterResponse = true }
        var request = HTTPServerRequest(head: head.request, version: head.version, body: body, remoteAddress: remote)
        request.tls = tlsInfo
        body = []
        beginExchange(method: head.request.method)
        server.dispatch(request, HTTPResponseWriter(connection: self, exchangeID: exchangeID))
    }

    // MARK: Output (called through HTTPResponseWriter, on `queue`)

    func writeHead(_ id: UInt64, _ res: HTTPResponse, contentLength: Int?) {
        guard id == exchangeID, phase == .handling, case .notStarted = response, let head else { return }
        let framing = ResponseFraming(res, contentLength: contentLength, requestMethod: head.request.method, version: head.version,
                                      close: closeAfterResponse || server.isShuttingDown, date: HTTPDate.now())
        if framing.close { closeAfterResponse = true }
        responseStatus = res.status.code
        response = .streaming(chunked: framing.chunked, headOnly: framing.headOnly, remaining: framing.remaining)
        outbound.append(MessageSerializer.responseHead(res, fields: framing.fields))
    }

    func writeBody(_ id: UInt64, _ bytes: [UInt8], onFlushed: (@Sendable () -> Void)?) {
        guard id == exchangeID, phase == .handling, case .streaming(let chunked, let headOnly, let remaining) = response else {
            return
        }
        if let remaining {
            // The framing sent is a promise: more bytes than it says would be read by the client
            // as the start of another response. Drop the connection instead.
            guard bytes.count <= remaining else { return abortResponse(id) }
            response = .streaming(chunked: chunked, headOnly: headOnly, remaining: remaining - bytes.count)
        }
        if !headOnly && !bytes.isEmpty {
            bodyBytesSent += bytes.count
            outbound.append(chunked ? MessageSerializer.chunk(bytes) : bytes)
        }
        flush()
        if let onFlushed {
            // Queued, not called: a producer that writes again from it must not recurse.
            if outbound.byteCount < Self.highWater || phase == .closed { queue.async(execute: onFlushed) } else { flushWaiters.append(onFlushed) }
        }
        if phase != .closed { rearm() }
    }

    func endResponse(_ id: UInt64) {
        guard id == exchangeID, phase == .handling, case .streaming(let chunked, _, let remaining) = response else { return }
        // Short of its Content-Length: the client must see a truncated message, not wait for
        // bytes that will never come (or take the next response's bytes for them).
        if let remaining, remaining > 0 { return abortResponse(id) }
        if chunked { outbound.append(MessageSerializer.lastChunk) }
        response = .ended
        flush()
        if phase != .closed { rearm() }
    }

    func setCancelHandler(_ id: UInt64, _ handler: @escaping @Sendable () -> Void) {
        guard id == exchangeID, phase == .handling else {
            handler()
            return
        }
        cancelHandler = handler
    }

    func abortResponse(_ id: UInt64) {
        guard id == exchangeID, phase == .handling else { return }
        outbound.removeAll()
        close()
    }

    /// Writes what is queued; finishes the exchange once the response is fully out.
    private func flush() {
        switch outbound.flush(to: transport) {
        case .failed:
            outbound.removeAll()
            close()
            return
        case .blocked:
            deadline.set(after: server.configuration.timeouts.write)
        case .flushed:
            if phase == .handling { deadline.clear() }
        }
        if outbound.byteCount < Self.highWater && !flushWaiters.isEmpty {
            let waiters = flushWaiters
            flushWaiters.removeAll()
            for waiter in waiters { waiter() }
        }
        if outbound.isEmpty, case .ended = response, phase == .handling {
            cancelHandler = nil
            finishExchange()
        }
    }

    private func finishExchange() {
        endExchange(completed: true)
        head = nil
        response = .notStarted
        if closeAfterResponse {
            closeGracefully()
            return
        }
        phase = .idle
        deadline.set(after: server.configuration.timeouts.idle)
        processInput()
    }

    // MARK: Reporting

    /// `HTTPResponseWriter.note`: on this connection's queue (the handler's synchronous part).
    func note(_ id: UInt64, _ update: (inout ExchangeNotes) -> Void) {
        assert(DispatchQueue.getSpecific(key: Self.queueKey) == ObjectIdentifier(self), "note() is for the handler's synchronous part")
        guard id == exchangeID, inExchange else { return }
        update(&notes)
    }

    /// `method` nil: a request rejected before it was parsed.
    private func beginExchange(method: HTTPRequest.Method?) {
        inExchange = true
        server.handling.add(1, ordering: .relaxed)
        guard server.configuration.onExchangeEnd != nil else { return }
        notes = ExchangeNotes()
        exchangeMethod = method
        exchangeStart = DispatchTime.now().uptimeNanoseconds
        responseStatus = 0
        bodyBytesSent = 0
    }

    /// Reports the exchange in progress, once.
    private func endExchange(completed: Bool) {
        guard inExchange else { return }
        inExchange = false
        server.handling.subtract(1, ordering: .relaxed)
        guard let report = server.configuration.onExchangeEnd else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        report(ExchangeRecord(method: exchangeMethod, status: responseStatus, bodyBytes: bodyBytesSent,
                              durationNanoseconds: now >= exchangeStart ? now - exchangeStart : 0,
                              completed: completed, remote: remote, notes: notes))
    }

    // MARK: Closing

    /// Answers a request that cannot be parsed or was too slow, then closes: after an
    /// error the framing of the stream can no longer be trusted.
    private func reject(_ error: HTTPParseError) {
        server.logger.debug("rejected request", metadata: ["status": "\(error.status.code)", "reason": "\(error.reason)"])
        guard phase != .handling else { close(); return }
        phase = .handling
        exchangeID &+= 1
        closeAfterResponse = true
        head = RequestHead(
            request: HTTPRequest(method: .get, scheme: nil, authority: nil, path: "/"),
            version: .http1_1, framing: .none, keepAlive: false, expectsContinue: false)
        beginExchange(method: nil)
        let rejection = server.configuration.rejection(error)
        var fields = HTTPFields()
        fields[.contentType] = rejection.contentType
        writeHead(exchangeID, HTTPResponse(status: error.status, headerFields: fields), contentLength: rejection.body.count)
        writeBody(exchangeID, rejection.body, onFlushed: nil)
        endResponse(exchangeID)
    }

    /// Lingering close: shut our write side, then discard input until the client closes
    /// (or the linger timeout), so unread input does not turn into a reset that destroys the
    /// response in the client's receive buffer.
    private func closeGracefully() {
        if inputClosed || (parser.bufferedByteCount == 0 && !parser.isMidMessage && peerGone) {
            close()
            return
        }
        transport.tls?.shutdown()
        shutdown(fd, Int32(SHUT_WR))
        phase = .lingering
        deadline.set(after: server.configuration.timeouts.linger)
        readInput()
        if inputClosed { close() } else if phase != .closed { rearm() }
    }

    /// Graceful server shutdown: idle connections close now, busy ones after their response.
    func shutdownRequested() {
        switch phase {
        case .idle:
            transport.tls?.shutdown()
            close()
        case .readingHead, .readingBody, .handling:
            closeAfterResponse = true
        case .lingering, .closed:
            break
        }
    }

    func close() {
        guard phase != .closed else { return }
        endExchange(completed: false)
        phase = .closed
        deadline.clear()
        outbound.removeAll()
        flushWaiters.removeAll()
        if let cancel = cancelHandler {
            cancelHandler = nil
            cancel()
        }
        server.loop.deregister(fd, generation: generation)
        Glibc.close(fd)
        server.connectionClosed(self)
    }

    private func rearm() {
        guard phase != .closed, !inEvent else { return }
        let reading = wantsInput || phase == .lingering
        if reading && phase != .lingering && transport.hasBufferedInput {
            // OpenSSL already holds input that epoll cannot report: handle it now.
            queue.async { [self] in handleEvents(.readable) }
            return
        }
        let events = transport.interest(read: reading, write: !outbound.isEmpty)
        // While the handler works, still hear of a hang-up (arm() always adds it), but only
        // once: a hang-up stays signalled, and re-arming for it would spin.
        guard !events.isEmpty || !peerGone, armed != events else { return }
        armed = events
        server.loop.arm(fd, generation: generation, events: events)
    }
}

/// Timeouts of the server, in seconds. Defaults follow common servers (nginx's are 60 s for
/// headers, bodies and writes and 75 s for keep-alive; corsd is a little stricter on headers).
public struct HTTPServerTimeouts: Sendable, Hashable {
    /// From a connection's first byte (or its opening) to the end of the request head: the
    /// slowloris guard. Answered with 408.
    public var header: Double = 10
    /// From the end of the head to the end of the body.
    public var body: Double = 30
    /// How long a keep-alive connection may sit idle between requests.
    public var idle: Double = 60
    /// How long a blocked write may make no progress before the connection is dropped.
    public var write: Double = 30
    /// How long a closing connection keeps reading (and discarding) the client's leftover
    /// input so the client sees the response instead of a reset.
    public var linger: Double = 2

    public init() {}
}

/// Everything that shapes a server. Plain fields with documented defaults, as in Go's net/http.
public struct HTTPServerConfiguration: Sendable {
    public var address: SocketAddress
    public var limits = HTTPLimits()
    public var timeouts = HTTPServerTimeouts()
    /// Most concurrent client connections; beyond it new connections get 503 and are closed.
    /// `nil` derives it from RLIMIT_NOFILE (see `FileDescriptorBudget`).
    public var maxConnections: Int?
    /// How long graceful shutdown lets in-flight requests finish.
    public var shutdownGrace: Double = 10
    /// Serve HTTPS with this certificate (nil: plain HTTP). The TLS handshake counts in the
    /// header timeout.
    public var tls: TLSServerContext?
    /// The body of the response to a request rejected before any handler saw it (a parse
    /// error, a timeout, a limit): plain text unless a layer above installs its own format.
    public var rejection: @Sendable (HTTPParseError) -> Rejection = { error in
        Rejection(contentType: "text/plain; charset=utf-8", body: Array("\(error.reason)\n".utf8))
    }

    /// Called when a TLS handshake fails (`timeout`: it did not finish within the header
    /// timeout; `error`: an alert, a protocol or cipher corsd refuses, a certificate the client
    /// CA does not verify, garbage). nil costs nothing.
    public var onTLSHandshakeFailure: (@Sendable (_ kind: String) -> Void)?

    /// Called once per exchange when its response ends (or its connection does), on the
    /// connection's queue: keep it short. nil (the default) costs nothing per request.
    public var onExchangeEnd: (@Sendable (ExchangeRecord) -> Void)?

    public struct Rejection: Sendable {
        public var contentType: String
        public var body: [UInt8]

        public init(contentType: String, body: [UInt8]) {
            self.contentType = contentType
            self.body = body
        }
    }

    public init(address: SocketAddress) {
        self.address = address
    }
}

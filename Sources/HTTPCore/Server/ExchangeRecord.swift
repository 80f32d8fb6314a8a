import HTTPTypes

/// What the layers above the server learn about an exchange while handling it, for the
/// metrics and the access log: bounded labels, never the raw path.
public struct ExchangeNotes: Sendable {
    /// The matched route template (`/api/v1/deployments/{name}`); nil when nothing matched.
    public var route: String?
    public var deployment: String?
    public var origin: String?
    /// The CORS decision's action (`serve`, `preflight`, `refuse`) and the rule that decided
    /// (its category, e.g. `allowed_origins`).
    public var corsAction: String?
    public var corsRule: String?
    /// `hit`, `miss`, `revalidated` or `bypass` for proxied tiles.
    public var cache: String?

    public init() {}
}

/// One finished exchange, reported to `HTTPServerConfiguration.onExchangeEnd`.
public struct ExchangeRecord: Sendable {
    /// nil for a request rejected before it was parsed (400, 408, 413, 431…).
    public var method: HTTPRequest.Method?
    public var status: Int
    /// Body bytes written (not counting the head or chunk framing).
    public var bodyBytes: Int
    public var durationNanoseconds: UInt64
    /// false when the connection ended before the response did.
    public var completed: Bool
    public var remote: SocketAddress?
    public var notes: ExchangeNotes

    public var durationSeconds: Double { Double(durationNanoseconds) / 1e9 }

    public init(method: HTTPRequest.Method?, status: Int, bodyBytes: Int, durationNanoseconds: UInt64, completed: Bool,
                remote: SocketAddress?, notes: ExchangeNotes) {
        self.method = method
        self.status = status
        self.bodyBytes = bodyBytes
        self.durationNanoseconds = durationNanoseconds
        self.completed = completed
        self.remote = remote
        self.notes = notes
    }
}

/// Counts of the server's connections, read by the metrics at scrape time.
public struct ConnectionCounts: Sendable {
    public var open: Int
    /// Connections with a request being handled.
    public var handling: Int

    public init(open: Int, handling: Int) {
        self.open = open
        self.handling = handling
    }
}

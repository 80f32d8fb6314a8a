import HTTPTypes

/// Why a message was rejected, with the status a server answers it with.
///
/// After any parse error the framing of the stream can no longer be trusted, so the
/// connection is closed once the error response is written.
public struct HTTPParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var reason: String

    public init(_ status: HTTPResponse.Status, _ reason: String) {
        self.status = status
        self.reason = reason
    }

    public var description: String { "\(status.code) \(reason)" }

    static func bad(_ reason: String) -> HTTPParseError { .init(.badRequest, reason) }
}

/// Size limits the parser enforces (architecture doc, "Parser (RFC 9112)").
public struct HTTPLimits: Sendable, Hashable {
    /// Longest request line (414 beyond) or status line.
    public var maxStartLineBytes = 8 * 1024
    /// Largest header section, field lines and trailers together (431 beyond).
    public var maxHeaderBytes = 16 * 1024
    /// Most header fields (431 beyond).
    public var maxHeaderCount = 100
    /// Largest request body (413 beyond). Responses are streamed and not limited.
    public var maxBodyBytes = 1024 * 1024

    public init() {}

    /// For upstream response heads: smaller than corsd's own limits, so that the head corsd
    /// relays — the upstream's fields plus the ones corsd adds (CORS, `Vary`, `X-Cache`,
    /// `Date`) — still fits the limits its own parser, and so its clients, apply.
    public static let upstreamResponse: HTTPLimits = {
        var limits = HTTPLimits()
        limits.maxHeaderBytes = 12 * 1024
        limits.maxHeaderCount = 80
        return limits
    }()
}

import HTTPTypes

/// A request as a handler sees it: the head, the whole body (bounded by
/// `HTTPLimits.maxBodyBytes`) and who sent it.
public struct HTTPServerRequest: Sendable {
    public var head: HTTPRequest
    public var version: HTTPVersion
    public var body: [UInt8]
    public var remoteAddress: SocketAddress?
    /// Set when the request came over TLS.
    public var tls: TLSConnectionInfo?

    public init(head: HTTPRequest, version: HTTPVersion = .http1_1, body: [UInt8] = [], remoteAddress: SocketAddress? = nil) {
        self.head = head
        self.version = version
        self.body = body
        self.remoteAddress = remoteAddress
    }

    public var method: HTTPRequest.Method { head.method }
    /// The request target as sent: path plus query.
    public var target: String { head.path ?? "/" }
    /// The path without the query.
    public var path: Substring {
        let t = target
        return t.utf8.firstIndex(of: UInt8(ascii: "?")).map { t[..<$0] } ?? t[...]
    }
    /// The raw query string (without `?`), or nil.
    public var query: Substring? {
        let t = target
        guard let q = t.utf8.firstIndex(of: UInt8(ascii: "?")) else { return nil }
        return t[t.utf8.index(after: q)...]
    }
}

/// Answers one request. It may complete later and from any queue: the writer is thread-safe.
public typealias HTTPHandler = @Sendable (HTTPServerRequest, HTTPResponseWriter) -> Void

/// What a TLS connection established, for handlers.
public struct TLSConnectionInfo: Sendable, Equatable {
    /// "TLSv1.3", "TLSv1.2".
    public var protocolName: String
    /// The client certificate's subject (RFC 2253, e.g. `CN=ansible,O=Example Ops`), present
    /// only when the client sent a certificate that verified against `--tls-client-ca`.
    public var peerSubject: String?

    public init(protocolName: String, peerSubject: String?) {
        self.protocolName = protocolName
        self.peerSubject = peerSubject
    }
}

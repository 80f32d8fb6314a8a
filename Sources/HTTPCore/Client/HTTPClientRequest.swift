import HTTPTypes

/// Where an upstream lives: host, port, and for HTTPS the context that verifies it.
public struct UpstreamEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// HTTPS when set: the server's certificate is verified against this context's CAs and
    /// must name `host` (SNI carries `host` when it is a name).
    public var tls: TLSClientContext?

    public init(host: String, port: Int, tls: TLSClientContext? = nil) {
        self.host = host
        self.port = port
        self.tls = tls
    }

    /// The `Host` field value for requests to this endpoint.
    public var hostField: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return port == (tls == nil ? 80 : 443) ? h : "\(h):\(port)"
    }

    public var description: String { (tls == nil ? "http://" : "https://") + hostField }
}

/// Client timeouts, in seconds.
public struct HTTPClientTimeouts: Sendable, Hashable {
    /// TCP connect (including name resolution).
    public var connect: Double = 5
    /// From the request being sent to the response head being complete.
    public var header: Double = 30
    /// The whole exchange, from `execute` to the end of the body.
    public var total: Double = 120

    public init(connect: Double = 5, header: Double = 30, total: Double = 120) {
        self.connect = connect
        self.header = header
        self.total = total
    }
}

/// A request to send upstream. `target` is the origin-form path plus query.
public struct HTTPClientRequest: Sendable {
    public var endpoint: UpstreamEndpoint
    public var method: HTTPRequest.Method
    public var target: String
    public var headerFields: HTTPFields
    public var body: [UInt8]
    public var timeouts: HTTPClientTimeouts

    public init(endpoint: UpstreamEndpoint, method: HTTPRequest.Method = .get, target: String, headerFields: HTTPFields = [:], body: [UInt8] = [], timeouts: HTTPClientTimeouts = .init()) {
        self.endpoint = endpoint
        self.method = method
        self.target = target
        self.headerFields = headerFields
        self.body = body
        self.timeouts = timeouts
    }

    /// Safe to send twice (RFC 9110 §9.2.2).
    var isIdempotent: Bool {
        [.get, .head, .options, .put, .delete, .trace].contains(method)
    }
}

public enum HTTPClientError: Error, Sendable, Equatable, CustomStringConvertible {
    case resolveFailed(String)
    case connectFailed(String)
    case connectTimeout
    case headerTimeout
    case totalTimeout
    /// The upstream closed or reset the connection before the response was complete.
    case connectionClosed
    case invalidResponse(String)
    case cancelled
    /// corsd's descriptor budget is spent: no new upstream connection now (503 at a gateway).
    case noDescriptors
    /// The TLS handshake or a record failed: a certificate that did not verify (expired, for
    /// another name, from an unknown CA), a protocol corsd refuses, a corrupt record.
    case tlsFailed(String)

    public var description: String {
        switch self {
        case .resolveFailed(let m): return "name resolution failed: \(m)"
        case .connectFailed(let m): return "connect failed: \(m)"
        case .connectTimeout: return "connect timed out"
        case .headerTimeout: return "response head timed out"
        case .totalTimeout: return "exchange timed out"
        case .connectionClosed: return "upstream closed the connection before the response was complete"
        case .invalidResponse(let m): return "invalid response: \(m)"
        case .cancelled: return "cancelled"
        case .noDescriptors: return "no descriptor left in corsd's budget for another upstream connection"
        case .tlsFailed(let m): return "TLS failed: \(m)"
        }
    }

    /// A bounded label for metrics: resolve, connect, timeout, closed, invalid, cancelled,
    /// no_descriptors, tls.
    public var metricKind: String {
        switch self {
        case .resolveFailed: return "resolve"
        case .connectFailed: return "connect"
        case .connectTimeout, .headerTimeout, .totalTimeout: return "timeout"
        case .connectionClosed: return "closed"
        case .invalidResponse: return "invalid"
        case .cancelled: return "cancelled"
        case .noDescriptors: return "no_descriptors"
        case .tlsFailed: return "tls"
        }
    }

    /// A timeout (504 at a gateway) rather than a failure (502).
    public var isTimeout: Bool {
        switch self {
        case .connectTimeout, .headerTimeout, .totalTimeout: return true
        default: return false
        }
    }
}

/// Receives one response, streamed. All callbacks run on the upstream connection's queue.
/// Exactly one of `onEnd` and `onError` ends the exchange (`onError` may follow `onHead`).
public struct HTTPClientResponseHandler: Sendable {
    public var onHead: @Sendable (ResponseHead) -> Void
    /// Body bytes; the client reads no more until `resume` is called (back-pressure).
    public var onBody: @Sendable (_ bytes: [UInt8], _ resume: @escaping @Sendable () -> Void) -> Void
    public var onEnd: @Sendable () -> Void
    public var onError: @Sendable (HTTPClientError) -> Void

    public init(onHead: @escaping @Sendable (ResponseHead) -> Void, onBody: @escaping @Sendable ([UInt8], @escaping @Sendable () -> Void) -> Void, onEnd: @escaping @Sendable () -> Void, onError: @escaping @Sendable (HTTPClientError) -> Void) {
        self.onHead = onHead
        self.onBody = onBody
        self.onEnd = onEnd
        self.onError = onError
    }
}

/// A buffered response.
public struct HTTPClientResponse: Sendable {
    public var head: ResponseHead
    public var body: [UInt8]
    public var status: HTTPResponse.Status { head.response.status }
}

import CorsdBase
import HTTPTypes

/// The HTTP/1.x protocol versions corsd speaks.
public enum HTTPVersion: Sendable, Hashable, CustomStringConvertible {
    case http1_0
    case http1_1

    public var description: String {
        switch self {
        case .http1_0: return "HTTP/1.0"
        case .http1_1: return "HTTP/1.1"
        }
    }
}

/// How the body of a message is delimited on the wire (RFC 9112 §6.3).
public enum BodyFraming: Sendable, Hashable {
    case none
    case contentLength(Int)
    case chunked
    /// Read until the peer closes (responses only).
    case untilClose
}

/// A parsed request head: the swift-http-types request plus what HTTP/1.x adds to it.
///
/// `request.path` holds the request target exactly as sent (origin-form or `*`), and
/// `request.authority` the `Host` field.
public struct RequestHead: Sendable {
    public var request: HTTPRequest
    public var version: HTTPVersion
    public var framing: BodyFraming
    /// Whether the connection may be kept open after this exchange (HTTP/1.1 rules).
    public var keepAlive: Bool
    /// `Expect: 100-continue` was sent.
    public var expectsContinue: Bool
}

/// A parsed response head.
public struct ResponseHead: Sendable {
    public var response: HTTPResponse
    public var version: HTTPVersion
    public var framing: BodyFraming
    public var keepAlive: Bool

    public init(response: HTTPResponse, version: HTTPVersion, framing: BodyFraming, keepAlive: Bool) {
        self.response = response
        self.version = version
        self.framing = framing
        self.keepAlive = keepAlive
    }
}

/// Keep-alive by HTTP/1.x rules: 1.1 persists unless `Connection: close`; 1.0 only with
/// `Connection: keep-alive`.
func connectionPersists(version: HTTPVersion, fields: HTTPFields) -> Bool {
    var close = false
    var keepAlive = false
    for value in fields[values: .connection] {
        for token in value.split(separator: ",") {
            let t = token.trimmingOWS().lowercased()
            if t == "close" { close = true }
            if t == "keep-alive" { keepAlive = true }
        }
    }
    if close { return false }
    return version == .http1_1 || keepAlive
}

/// RFC 9110 §7.6.1: the connection options a sender listed in `Connection`, lower-cased: the
/// fields they name are hop-by-hop and never forwarded.
public func connectionOptions(_ fields: HTTPFields) -> Set<String> {
    var names = Set<String>()
    for value in fields[values: .connection] {
        for item in value.split(separator: ",") {
            let name = item.trimmingOWS().lowercased()
            if !name.isEmpty { names.insert(name) }
        }
    }
    return names
}

extension HTTPField.Name {
    /// A field name from a literal known to be a valid token.
    public static func literal(_ name: StaticString) -> HTTPField.Name {
        guard let field = HTTPField.Name(name.description) else { preconditionFailure("\(name) is a field name") }
        return field
    }
}

extension HTTPField.Name {
    /// HTTP/1.1's `Host` (swift-http-types models it as the `authority` pseudo-field, but on
    /// the wire of HTTP/1.x it is an ordinary field).
    public static let hostField = HTTPField.Name("Host")!
    public static let keepAlive = HTTPField.Name("Keep-Alive")!
    public static let proxyConnection = HTTPField.Name("Proxy-Connection")!
}

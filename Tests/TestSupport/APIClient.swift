import Foundation

/// One-request-per-connection HTTP calls to a corsd on loopback, for API tests.
public struct APIClient: Sendable {
    public let port: Int
    public var token: String?

    public init(port: Int, token: String?) {
        self.port = port
        self.token = token
    }

    @discardableResult
    public func call(_ method: String, _ target: String, json: String? = nil, contentType: String = "application/json", headers: [String: String] = [:], token: String?? = .none) throws -> RawResponse {
        let socket = try RawSocket(port: port)
        var head = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        if let bearer = token ?? self.token { head += "Authorization: Bearer \(bearer)\r\n" }
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        let body = Array((json ?? "").utf8)
        if json != nil { head += "Content-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n" }
        try socket.send(Array((head + "\r\n").utf8) + body)
        return try socket.readResponse(method: method)
    }
}

extension RawResponse {
    /// The body as a JSON object.
    public var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
    }
}

import HTTPTypes

/// How a response is framed on the wire, decided by corsd alone (RFC 9112 §6): the caller's
/// framing fields are dropped and set again from what the body really is. Pure, so the
/// server and the proxy's fuzz target use the same rules.
public struct ResponseFraming: Sendable {
    /// The head's fields: the response's own, with `Content-Length` or `Transfer-Encoding`,
    /// `Date` and `Connection` set here.
    public var fields: HTTPFields
    /// The body is sent chunked.
    public var chunked: Bool
    /// No body bytes are sent (HEAD, 1xx, 204, 304).
    public var headOnly: Bool
    /// Body bytes owed under a Content-Length (nil: chunked, close-delimited or none).
    public var remaining: Int?
    /// The connection closes after this response.
    public var close: Bool

    /// - Parameters:
    ///   - contentLength: the body's length if known; nil streams it chunked (or, to an
    ///     HTTP/1.0 client, close-delimited).
    ///   - close: the connection is to close after this response anyway.
    public init(_ response: HTTPResponse, contentLength: Int?, requestMethod: HTTPRequest.Method, version: HTTPVersion, close: Bool, date: String) {
        var fields = response.headerFields
        for name in [HTTPField.Name.connection, .transferEncoding, .contentLength, .keepAlive, .date] {
            fields[name] = nil
        }
        fields[.date] = date
        let code = response.status.code
        let bodyless = code < 200 || code == 204 || code == 304
        var close = close
        var chunked = false
        if bodyless {
            // No body and no framing fields (a 304's Content-Length would describe the 200).
        } else if let contentLength {
            fields[.contentLength] = String(contentLength)
        } else if version == .http1_1 {
            chunked = true
            fields[.transferEncoding] = "chunked"
        } else {
            close = true  // close-delimited
        }
        if close {
            fields[.connection] = "close"
        } else if version == .http1_0 {
            fields[.connection] = "keep-alive"
        }
        let headOnly = requestMethod == .head || bodyless
        self.fields = fields
        self.chunked = chunked && !headOnly
        self.headOnly = headOnly
        self.remaining = headOnly || chunked ? nil : contentLength
        self.close = close
    }
}

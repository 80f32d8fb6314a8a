import CorsdBase
import HTTPCore
import HTTPTypes

extension HTTPField.Name {
    static let xCache = HTTPField.Name.literal("X-Cache")
}

/// The one place a client response head is assembled, whether it comes from the upstream or
/// the cache: the upstream's end-to-end fields (never its framing, hop-by-hop or CORS fields),
/// corsd's CORS fields, `X-Cache`, and one `Vary` that includes `Origin`.
enum ResponseBuilder {
    /// RFC 9110 §7.6.1 hop-by-hop fields, and framing fields corsd always sets itself.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection",
        "proxy-authenticate", "proxy-authorization", "content-length", "date",
    ]

    /// The upstream's fields minus hop-by-hop ones (and those its `Connection` names) and
    /// minus its CORS fields, which corsd replaces with its own.
    static func endToEnd(_ fields: HTTPFields) -> HTTPFields {
        let named = connectionOptions(fields)
        var out = HTTPFields()
        out.reserveCapacity(fields.count)
        for field in fields {
            let name = field.name.canonicalName
            if hopByHop.contains(name) || named.contains(name) || name.hasPrefix("access-control-") { continue }
            out.append(field)
        }
        return out
    }

    /// Where a response came from, as `X-Cache` says it.
    enum Source: String {
        case hit = "HIT", miss = "MISS", revalidated = "REVALIDATED"
    }

    /// The client head: `fields` (already end-to-end) plus CORS, `X-Cache` and one `Vary`.
    static func head(status: HTTPResponse.Status, fields: HTTPFields, cors: HTTPFields, source: Source?) -> HTTPResponse {
        var out = fields
        out.reserveCapacity(fields.count + cors.count + 1)
        out.append(contentsOf: cors)
        out[.xCache] = source?.rawValue
        let varies = out[values: .vary]
        // One Vary value with one token (the usual `Origin`) is already what is sent.
        if varies.count > 1 || varies.contains(where: { $0.isEmpty || $0.utf8.contains(0x2C) }) {
            var tokens: [Substring] = []
            for value in varies {
                for item in value.split(separator: ",") {
                    let token = item.trimmingOWS()
                    if !token.isEmpty && !tokens.contains(where: { equalsIgnoringASCIICase($0, token) }) { tokens.append(token) }
                }
            }
            out[.vary] = tokens.isEmpty ? nil : tokens.joined(separator: ", ")
        }
        return HTTPResponse(status: status, headerFields: out)
    }

    /// The framing corsd sends is derived from how corsd itself reads the upstream body: a
    /// verified Content-Length stays one (the writer drops the connection if the body falls
    /// short or runs over); chunked and close-delimited bodies are sent chunked. For HEAD, the
    /// length the upstream announced for GET (already checked by the parser).
    static func contentLength(_ head: ResponseHead, method: HTTPRequest.Method) -> Int? {
        switch head.framing {
        case .contentLength(let n): return n
        case .none: return method == .head ? head.response.headerFields[.contentLength].flatMap { Int($0) } : 0
        case .chunked, .untilClose: return nil
        }
    }
}

import Foundation
import HTTPTypes
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Writes HTTP/1.1 heads and chunk frames.
public enum MessageSerializer {
    public static func responseHead(_ response: HTTPResponse, fields: HTTPFields) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        out.append(contentsOf: "HTTP/1.1 ".utf8)
        // A status code is three digits (HTTPResponse.Status guarantees 100...999).
        let code = response.status.code
        out.append(UInt8(truncatingIfNeeded: 0x30 + code / 100 % 10))
        out.append(UInt8(truncatingIfNeeded: 0x30 + code / 10 % 10))
        out.append(UInt8(truncatingIfNeeded: 0x30 + code % 10))
        out.append(0x20)
        let reason = response.status.reasonPhrase
        out.append(contentsOf: (reason.isEmpty ? defaultReason(code) : reason).utf8)
        appendCRLF(to: &out)
        appendFields(fields, to: &out)
        appendCRLF(to: &out)
        return out
    }

    static func requestHead(method: HTTPRequest.Method, target: String, fields: HTTPFields) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        out.append(contentsOf: method.rawValue.utf8)
        out.append(0x20)
        out.append(contentsOf: target.utf8)
        out.append(contentsOf: " HTTP/1.1\r\n".utf8)
        appendFields(fields, to: &out)
        appendCRLF(to: &out)
        return out
    }

    private static func appendFields(_ fields: HTTPFields, to out: inout [UInt8]) {
        for field in fields {
            out.append(contentsOf: field.name.rawName.utf8)
            out.append(0x3A)
            out.append(0x20)
            out.append(contentsOf: field.value.utf8)
            appendCRLF(to: &out)
        }
    }

    private static func appendCRLF(to out: inout [UInt8]) {
        out.append(0x0D)
        out.append(0x0A)
    }

    public static func chunk(_ body: [UInt8]) -> [UInt8] {
        var out = Array(String(body.count, radix: 16).utf8)
        out.reserveCapacity(out.count + body.count + 4)
        out.append(contentsOf: [0x0D, 0x0A])
        out.append(contentsOf: body)
        out.append(contentsOf: [0x0D, 0x0A])
        return out
    }

    public static let lastChunk: [UInt8] = Array("0\r\n\r\n".utf8)
    static let continueResponse: [UInt8] = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    public static func defaultReason(_ code: Int) -> String {
        switch code {
        case 100: return "Continue"
        case 200: return "OK"
        case 201: return "Created"
        case 204: return "No Content"
        case 206: return "Partial Content"
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 304: return "Not Modified"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 412: return "Precondition Failed"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 415: return "Unsupported Media Type"
        case 417: return "Expectation Failed"
        case 422: return "Unprocessable Content"
        case 428: return "Precondition Required"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        case 505: return "HTTP Version Not Supported"
        default: return "Status \(code)"
        }
    }
}

/// The `Date` field value (RFC 9110 IMF-fixdate), formatted at most once a second.
public enum HTTPDate {
    private static let cache = Mutex<(second: Int, value: String)>((0, ""))

    public static func now() -> String {
        var t = time(nil)
        return cache.withLock { c in
            if c.second != t {
                c = (t, format(&t))
            }
            return c.value
        }
    }

    public static func format(_ t: inout time_t) -> String {
        var tm = tm()
        gmtime_r(&t, &tm)
        var buffer = [CChar](repeating: 0, count: 40)
        let n = strftime(&buffer, buffer.count, "%a, %d %b %Y %H:%M:%S GMT", &tm)
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

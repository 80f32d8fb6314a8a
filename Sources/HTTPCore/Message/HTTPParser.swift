import CorsdBase
import HTTPTypes

/// What the parser found next in the byte stream.
public enum HTTPParserEvent: Sendable {
    case requestHead(RequestHead)
    case responseHead(ResponseHead)
    case body([UInt8])
    /// The message is complete; the parser is ready for the next one.
    case end
}

/// An incremental RFC 9112 message parser, shared by the server (request mode) and the
/// upstream client (response mode).
///
/// Bytes may arrive split anywhere: `feed(_:)` appends them and `next()` returns events until
/// it needs more input (`nil`). The parser never reads past the end of a message, so
/// pipelined requests stay buffered until the caller asks for them. Anything that could make
/// two peers disagree about where a message ends (request smuggling) is rejected with 400.
public struct HTTPParser: Sendable {
    public enum Mode: Sendable {
        case request
        /// `requestMethod` decides whether the response has a body (HEAD has none).
        case response(requestMethod: HTTPRequest.Method)
    }

    private enum State: Sendable {
        case startLine
        case fields
        case fixedBody(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case untilClose
        case messageEnd
        case failed(HTTPParseError)
    }

    public var mode: Mode
    public let limits: HTTPLimits
    /// Whether absolute-form request targets are accepted (only a forward proxy would).
    public var acceptsAbsoluteForm = false

    private var buffer: [UInt8] = []
    private var position = 0
    private var state: State = .startLine

    // Head under construction.
    private var startLine: [UInt8] = []
    private var fieldLines: [HTTPField] = []
    private var headerBytes = 0
    private var bodyBytes = 0
    private var emptyLinesSkipped = 0

    public init(mode: Mode, limits: HTTPLimits = HTTPLimits()) {
        self.mode = mode
        self.limits = limits
    }

    /// Bytes received but not yet consumed by `next()`.
    public var bufferedByteCount: Int { buffer.count - position }

    /// True while in the middle of a message (head or body partially received).
    public var isMidMessage: Bool {
        switch state {
        case .startLine: return bufferedByteCount > 0
        case .messageEnd, .failed: return false
        default: return true
        }
    }

    public mutating func feed<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        if position > 0 && position >= buffer.count / 2 {
            buffer.removeSubrange(0..<position)
            position = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// Returns the next event, or nil when more input is needed.
    public mutating func next() throws(HTTPParseError) -> HTTPParserEvent? {
        do {
            return try step()
        } catch {
            state = .failed(error)
            throw error
        }
    }

    /// Tells the parser the peer closed its side. A close-delimited body ends here; any other
    /// message still in progress is an error (the message was truncated).
    public mutating func finish() throws(HTTPParseError) -> HTTPParserEvent? {
        switch state {
        case .untilClose:
            if bufferedByteCount > 0 { return try next() }
            state = .messageEnd
            return .end
        case .startLine where bufferedByteCount == 0:
            return nil
        case .messageEnd:
            return try next()
        default:
            let error = HTTPParseError.bad("connection closed before the message was complete")
            state = .failed(error)
            throw error
        }
    }

    private mutating func step() throws(HTTPParseError) -> HTTPParserEvent? {
        while true {
            switch state {
            case .failed(let error):
                throw error
            case .messageEnd:
                state = .startLine
                emptyLinesSkipped = 0
                return .end
            case .startLine:
                guard let line = try takeLine(limit: limits.maxStartLineBytes, onOverflow: .startLine) else {
                    return nil
                }
                if line.isEmpty {
                    // RFC 9112 §2.2: ignore at least one empty line before the start line.
                    emptyLinesSkipped += 1
                    if emptyLinesSkipped > 4 { throw .bad("too many empty lines before the request line") }
                    continue
                }
                startLine = Array(buffer[line])
                fieldLines.removeAll(keepingCapacity: true)
                headerBytes = 0
                bodyBytes = 0
                state = .fields
            case .fields:
                let room = limits.maxHeaderBytes - headerBytes
                guard let line = try takeLine(limit: room, onOverflow: .headerSection) else { return nil }
                headerBytes += line.count + 2
                if line.isEmpty {
                    if let event = try completeHead() { return event }
                    continue
                }
                try parseFieldLine(buffer[line])
            case .fixedBody(let remaining):
                guard let (chunk, left) = takeBody(upTo: remaining) else { return nil }
                state = left == 0 ? .messageEnd : .fixedBody(remaining: left)
                return .body(chunk)
            case .chunkSize:
                guard let line = try takeLine(limit: 1024, onOverflow: .chunkSizeLine) else {
                    return nil
                }
                let size = try parseChunkSize(buffer[line])
                if size == 0 {
                    state = .trailers
                } else {
                    try countBody(size)
                    state = .chunkData(remaining: size)
                }
            case .chunkData(let remaining):
                guard let (chunk, left) = takeBody(upTo: remaining) else { return nil }
                state = left == 0 ? .chunkDataEnd : .chunkData(remaining: left)
                return .body(chunk)
            case .chunkDataEnd:
                guard let line = try takeLine(limit: 0, onOverflow: .chunkData) else {
                    return nil
                }
                guard line.isEmpty else { throw .bad("chunk data longer than its size") }
                state = .chunkSize
            case .trailers:
                let room = limits.maxHeaderBytes - headerBytes
                guard let line = try takeLine(limit: room, onOverflow: .headerSection) else { return nil }
                headerBytes += line.count + 2
                if line.isEmpty {
                    state = .messageEnd
                    continue
                }
                // Trailer fields are validated like header fields, then dropped.
                let trailer = buffer[line]
                if trailer.first == 0x20 || trailer.first == 0x09 { throw .bad("obsolete line folding in trailers") }
                _ = try field(trailer)
            case .untilClose:
                guard bufferedByteCount > 0 else { return nil }
                let chunk = Array(buffer[position...])
                position = buffer.count
                return .body(chunk)
            }
        }
    }

    /// Up to `remaining` buffered body bytes and how many are still to come; nil if none are buffered.
    private mutating func takeBody(upTo remaining: Int) -> ([UInt8], left: Int)? {
        guard bufferedByteCount > 0 else { return nil }
        let n = min(remaining, bufferedByteCount)
        defer { position += n }
        return (Array(buffer[position..<position + n]), remaining - n)
    }

    /// Which line was too long; its error is built only when it is thrown.
    private enum Overflow {
        case startLine, headerSection, chunkSizeLine, chunkData
    }

    private func error(_ overflow: Overflow) -> HTTPParseError {
        switch overflow {
        case .startLine:
            if case .request = mode { return HTTPParseError(.uriTooLong, "request line longer than \(limits.maxStartLineBytes) bytes") }
            return .bad("status line too long")
        case .headerSection: return HTTPParseError(.requestHeaderFieldsTooLarge, "header section larger than \(limits.maxHeaderBytes) bytes")
        case .chunkSizeLine: return .bad("chunk size line too long")
        case .chunkData: return .bad("chunk data longer than its size")
        }
    }

    /// Takes one line (its range in `buffer`, without the terminator) if a whole one is
    /// buffered. Lines end with CRLF, or a bare LF (RFC 9112 §2.2 allows accepting it); a CR
    /// anywhere else is an error.
    private mutating func takeLine(limit: Int, onOverflow: Overflow) throws(HTTPParseError) -> Range<Int>? {
        let end = buffer.count
        var i = position
        while i < end {
            let b = buffer[i]
            if b == 0x0A {
                var lineEnd = i
                if lineEnd > position && buffer[lineEnd - 1] == 0x0D { lineEnd -= 1 }
                if lineEnd - position > limit { throw error(onOverflow) }
                let line = position..<lineEnd
                position = i + 1
                return line
            }
            if b == 0x0D && i + 1 < end && buffer[i + 1] != 0x0A { throw .bad("bare CR") }
            i += 1
        }
        // No terminator yet: fail early if the line is already too long.
        if end - position > limit + 1 { throw error(onOverflow) }
        return nil
    }

    private mutating func parseFieldLine(_ line: ArraySlice<UInt8>) throws(HTTPParseError) {
        if line.first == 0x20 || line.first == 0x09 { throw .bad("obsolete line folding") }
        if fieldLines.count >= limits.maxHeaderCount {
            throw HTTPParseError(.requestHeaderFieldsTooLarge, "more than \(limits.maxHeaderCount) header fields")
        }
        fieldLines.append(try field(line))
    }

    private func field(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> HTTPField {
        guard let colon = line.firstIndex(of: 0x3A) else { throw .bad("header field without a colon") }
        guard colon > 0 else { throw .bad("empty header field name") }
        for b in line[line.startIndex..<colon] where !isTokenByte(b) {
            if b == 0x20 || b == 0x09 { throw .bad("whitespace before the colon in a header field") }
            throw .bad("invalid character in a header field name")
        }
        var start = colon + 1
        var end = line.endIndex
        while start < end && (line[start] == 0x20 || line[start] == 0x09) { start += 1 }
        while end > start && (line[end - 1] == 0x20 || line[end - 1] == 0x09) { end -= 1 }
        for b in line[start..<end] where (b < 0x20 && b != 0x09) || b == 0x7F {
            throw .bad("control character in a header field value")
        }
        guard let name = HTTPField.Name(String(decoding: line[line.startIndex..<colon], as: UTF8.self)) else {
            throw .bad("invalid header field name")
        }
        return HTTPField(name: name, value: line[start..<end])
    }

    private mutating func completeHead() throws(HTTPParseError) -> HTTPParserEvent? {
        let fields = HTTPFields(fieldLines)
        switch mode {
        case .request:
            return try completeRequestHead(fields)
        case .response(let method):
            return try completeResponseHead(fields, requestMethod: method)
        }
    }

    private mutating func completeRequestHead(_ fields: HTTPFields) throws(HTTPParseError) -> HTTPParserEvent {
        let parts = startLine.split(separator: 0x20, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else { throw .bad("malformed request line") }
        guard parts[0].allSatisfy(isTokenByte),
              let method = HTTPRequest.Method(String(decoding: parts[0], as: UTF8.self))
        else { throw .bad("invalid method") }
        let version = try parseVersion(parts[2])
        let targetBytes = parts[1]
        guard targetBytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { throw .bad("invalid character in the request target") }
        let target = String(decoding: targetBytes, as: UTF8.self)
        if method == .connect { throw HTTPParseError(.notImplemented, "CONNECT is not supported") }
        if target == "*" {
            guard method == .options else { throw .bad("asterisk-form target is only valid for OPTIONS") }
        } else if !target.hasPrefix("/") {
            if !acceptsAbsoluteForm || !(target.hasPrefix("http://") || target.hasPrefix("https://")) {
                throw .bad("request target must be in origin-form")
            }
        }

        let hosts = fields[values: .hostField]
        if hosts.count > 1 { throw .bad("more than one Host header field") }
        if version == .http1_1 && hosts.isEmpty { throw .bad("missing Host header field") }
        if let host = hosts.first, host.utf8.contains(where: { $0 == 0x2C || $0 == 0x20 }) { throw .bad("invalid Host header field") }

        let framing = try requestFraming(fields, version: version)
        var expectsContinue = false
        for value in fields[values: .expect] {
            guard value.lowercased() == "100-continue" else {
                throw HTTPParseError(.expectationFailed, "unsupported expectation")
            }
            expectsContinue = version == .http1_1
        }
        let request = HTTPRequest(method: method, scheme: nil, authority: hosts.first, path: target, headerFields: fields)
        let head = RequestHead(
            request: request, version: version, framing: framing,
            keepAlive: connectionPersists(version: version, fields: fields),
            expectsContinue: expectsContinue)
        enterBody(framing)
        return .requestHead(head)
    }

    private func requestFraming(_ fields: HTTPFields, version: HTTPVersion) throws(HTTPParseError) -> BodyFraming {
        let transferEncodings = fields[values: .transferEncoding]
        let contentLengths = fields[values: .contentLength]
        if !transferEncodings.isEmpty {
            if !contentLengths.isEmpty { throw .bad("both Transfer-Encoding and Content-Length") }
            if version == .http1_0 { throw .bad("Transfer-Encoding in an HTTP/1.0 request") }
            let codings = transferEncodings.flatMap { $0.split(separator: ",") }
                .map { $0.trimmingOWS().lowercased() }
            guard codings.last == "chunked" else { throw .bad("final transfer coding is not chunked") }
            if codings.dropLast().contains("chunked") { throw .bad("chunked applied more than once") }
            if codings.count > 1 { throw HTTPParseError(.notImplemented, "unsupported transfer coding") }
            return .chunked
        }
        guard let length = try contentLength(contentLengths) else { return .none }
        if length > limits.maxBodyBytes {
            throw HTTPParseError(.contentTooLarge, "body larger than \(limits.maxBodyBytes) bytes")
        }
        return length == 0 ? .none : .contentLength(length)
    }

    private mutating func completeResponseHead(_ fields: HTTPFields, requestMethod: HTTPRequest.Method) throws(HTTPParseError) -> HTTPParserEvent? {
        // status-line = HTTP-version SP status-code SP [ reason-phrase ]
        guard startLine.count >= 12 else {
            throw .bad("malformed status line")
        }
        let version = try parseVersion(startLine[0..<8])
        guard startLine[8] == 0x20,
              startLine[9...11].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              startLine.count == 12 || startLine[12] == 0x20
        else { throw .bad("malformed status line") }
        let code = Int(startLine[9] - 0x30) * 100 + Int(startLine[10] - 0x30) * 10 + Int(startLine[11] - 0x30)
        guard code >= 100 else { throw .bad("invalid status code") }
        if code == 100 || code == 103 {
            // Interim responses (100 Continue, 103 Early Hints) are skipped.
            state = .startLine
            return nil
        }
        // corsd never asks for an upgrade, and no other interim response is defined for it:
        // an unsolicited 101 (or 102, 1xx) would hand the connection to the upstream.
        if code < 200 { throw .bad("unexpected interim response \(code)") }
        let reason = startLine.count > 13 ? String(decoding: startLine[13...], as: UTF8.self) : ""
        let framing = try responseFraming(fields, code: code, requestMethod: requestMethod)
        let response = HTTPResponse(status: .init(code: code, reasonPhrase: reason), headerFields: fields)
        let keepAlive = framing != .untilClose && connectionPersists(version: version, fields: fields)
        enterBody(framing)
        return .responseHead(ResponseHead(response: response, version: version, framing: framing, keepAlive: keepAlive))
    }

    /// RFC 9112 §6.3, strictly: a message whose length could be read two ways is refused, not
    /// guessed at (a proxy that guesses differently from its client relays a second,
    /// upstream-authored response). Transfer codings other than a single `chunked` are refused
    /// too: corsd does not decode gzip transfer codings.
    private func responseFraming(_ fields: HTTPFields, code: Int, requestMethod: HTTPRequest.Method) throws(HTTPParseError) -> BodyFraming {
        let transferEncodings = fields[values: .transferEncoding]
        let contentLengths = fields[values: .contentLength]
        if !transferEncodings.isEmpty && !contentLengths.isEmpty { throw .bad("both Transfer-Encoding and Content-Length") }
        let length = try contentLength(contentLengths)
        if requestMethod == .head || code == 204 || code == 304 { return .none }
        if !transferEncodings.isEmpty {
            let codings = transferEncodings.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
                .map { $0.trimmingOWS().lowercased() }
            guard codings == ["chunked"] else { throw .bad("transfer coding other than a single chunked") }
            return .chunked
        }
        guard let length else { return .untilClose }
        return length == 0 ? .none : .contentLength(length)
    }

    private mutating func enterBody(_ framing: BodyFraming) {
        switch framing {
        case .none: state = .messageEnd
        case .contentLength(let n): state = .fixedBody(remaining: n)
        case .chunked: state = .chunkSize
        case .untilClose: state = .untilClose
        }
    }

    /// All Content-Length values (across fields and comma lists) must be the same number.
    private func contentLength(_ values: [String]) throws(HTTPParseError) -> Int? {
        var result: Int?
        for value in values {
            for item in value.split(separator: ",", omittingEmptySubsequences: false) {
                let digits = item.trimmingOWS()
                guard !digits.isEmpty, digits.count <= 18, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                      let n = Int(digits)
                else { throw .bad("invalid Content-Length") }
                if let r = result, r != n { throw .bad("conflicting Content-Length values") }
                result = n
            }
        }
        return result
    }

    private func parseVersion(_ bytes: ArraySlice<UInt8>) throws(HTTPParseError) -> HTTPVersion {
        guard bytes.count == 8, bytes.starts(with: Array("HTTP/".utf8)) else { throw .bad("malformed HTTP version") }
        let major = bytes[bytes.startIndex + 5], dot = bytes[bytes.startIndex + 6], minor = bytes[bytes.startIndex + 7]
        guard (0x30...0x39).contains(major), dot == 0x2E, (0x30...0x39).contains(minor) else {
            throw .bad("malformed HTTP version")
        }
        switch (major, minor) {
        case (0x31, 0x31): return .http1_1
        case (0x31, 0x30): return .http1_0
        default: throw HTTPParseError(.httpVersionNotSupported, "unsupported HTTP version")
        }
    }

    private func parseChunkSize(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> Int {
        // chunk-size [ chunk-ext ]: the extension is ignored, but the size must be hex.
        var size = 0
        var digits = 0
        for b in line {
            let v: Int
            switch b {
            case 0x30...0x39: v = Int(b - 0x30)
            case 0x41...0x46: v = Int(b - 0x41 + 10)
            case 0x61...0x66: v = Int(b - 0x61 + 10)
            case 0x3B, 0x20, 0x09:
                guard digits > 0 else { throw .bad("invalid chunk size") }
                return size
            default: throw .bad("invalid chunk size")
            }
            digits += 1
            if digits > 15 { throw .bad("chunk size too large") }
            size = size * 16 + v
        }
        guard digits > 0 else { throw .bad("invalid chunk size") }
        return size
    }

    private mutating func countBody(_ n: Int) throws(HTTPParseError) {
        // Saturating: a response body has no limit, and chunk sizes up to 2^60 add up.
        let (sum, overflow) = bodyBytes.addingReportingOverflow(n)
        bodyBytes = overflow ? Int.max : sum
        if case .request = mode, bodyBytes > limits.maxBodyBytes {
            throw HTTPParseError(.contentTooLarge, "body larger than \(limits.maxBodyBytes) bytes")
        }
    }
}

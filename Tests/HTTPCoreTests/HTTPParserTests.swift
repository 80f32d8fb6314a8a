import HTTPTypes
import XCTest
import TestSupport

@testable import HTTPCore

/// A parsed message, flattened so parses can be compared.
struct ParsedMessage: Equatable {
    var method: String
    var target: String
    var version: HTTPVersion
    var fields: [String]
    var body: [UInt8]
    var keepAlive: Bool
}

/// Feeds `pieces` one by one and collects whole messages, or the first error.
func parseRequests(_ pieces: [[UInt8]], limits: HTTPLimits = HTTPLimits()) -> Result<[ParsedMessage], HTTPParseError> {
    var parser = HTTPParser(mode: .request, limits: limits)
    var messages: [ParsedMessage] = []
    var current: ParsedMessage?
    do throws(HTTPParseError) {
        for piece in pieces {
            parser.feed(piece)
            while let event = try parser.next() {
                switch event {
                case .requestHead(let head):
                    current = ParsedMessage(
                        method: head.request.method.rawValue, target: head.request.path ?? "", version: head.version,
                        fields: head.request.headerFields.map { "\($0.name.rawName): \($0.value)" }, body: [],
                        keepAlive: head.keepAlive)
                case .body(let bytes):
                    current?.body.append(contentsOf: bytes)
                case .end:
                    messages.append(current!)
                    current = nil
                case .responseHead:
                    XCTFail("response head in request mode")
                }
            }
        }
    } catch {
        return .failure(error)
    }
    return .success(messages)
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

final class HTTPParserTests: XCTestCase {
    /// One row per rejection rule of the architecture doc: the request and the status it earns.
    func testRejections() {
        let longTarget = "/" + String(repeating: "a", count: 8 * 1024)
        let manyFields = (0..<101).map { "X-F\($0): v\r\n" }.joined()
        let bigField = "X-Big: " + String(repeating: "b", count: 16 * 1024) + "\r\n"
        let rows: [(name: String, request: String, status: Int)] = [
            ("RequestLineTooLong", "GET \(longTarget) HTTP/1.1\r\nHost: a\r\n\r\n", 414),
            ("HeaderSectionTooLarge", "GET / HTTP/1.1\r\nHost: a\r\n\(bigField)\r\n", 431),
            ("TooManyFields", "GET / HTTP/1.1\r\nHost: a\r\n\(manyFields)\r\n", 431),
            ("BodyTooLarge", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1048577\r\n\r\n", 413),
            ("ChunkedBodyTooLarge", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n100001\r\n", 413),
            ("WhitespaceBeforeColon", "GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n", 400),
            ("TabBeforeColon", "GET / HTTP/1.1\r\nHost: a\r\nX-A\t: b\r\n\r\n", 400),
            ("ObsFold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400),
            ("BareCRInField", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n", 400),
            ("BareCRInRequestLine", "GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("NULInFieldValue", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\u{0}c\r\n\r\n", 400),
            ("InvalidContentLength", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n", 400),
            ("NegativeContentLength", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
            ("ConflictingContentLengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
            ("ConflictingContentLengthList", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\n", 400),
            ("HugeContentLength", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400),
            ("TransferEncodingWithContentLength", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400),
            ("FinalCodingNotChunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
            ("OnlyUnknownCoding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
            ("ChunkedTwice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400),
            ("UnknownCodingBeforeChunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
            ("TransferEncodingInHTTP10", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            ("AbsoluteFormTarget", "GET http://evil.example/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("AuthorityFormTarget", "GET evil.example:80 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("ConnectMethod", "CONNECT evil.example:443 HTTP/1.1\r\nHost: a\r\n\r\n", 501),
            ("AsteriskNotOptions", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("MissingHost", "GET / HTTP/1.1\r\n\r\n", 400),
            ("TwoHosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            ("HostList", "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", 400),
            ("UnsupportedVersion", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
            ("MalformedVersion", "GET / HTTQ/1.1\r\nHost: a\r\n\r\n", 400),
            ("ExtraSpaceInRequestLine", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("MissingVersion", "GET /\r\nHost: a\r\n\r\n", 400),
            ("InvalidMethod", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("ControlInTarget", "GET /a\u{7f}b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("FieldWithoutColon", "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400),
            ("EmptyFieldName", "GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", 400),
            ("InvalidChunkSize", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
            ("ChunkDataLongerThanSize", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n", 400),
            ("UnknownExpectation", "POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx", 417),
        ]
        for row in rows {
            switch parseRequests([bytes(row.request)]) {
            case .success(let messages):
                XCTFail("\(row.name): accepted \(messages)")
            case .failure(let error):
                XCTAssertEqual(error.status.code, row.status, "\(row.name): \(error.reason)")
            }
        }
    }

    /// Valid requests and what they parse to.
    func testAcceptedRequests() throws {
        let rows: [(name: String, request: String, expected: [ParsedMessage])] = [
            ("SimpleGet", "GET /a?b=c HTTP/1.1\r\nHost: x\r\n\r\n",
             [ParsedMessage(method: "GET", target: "/a?b=c", version: .http1_1, fields: ["Host: x"], body: [], keepAlive: true)]),
            ("HTTP10DefaultsToClose", "GET / HTTP/1.0\r\n\r\n",
             [ParsedMessage(method: "GET", target: "/", version: .http1_0, fields: [], body: [], keepAlive: false)]),
            ("HTTP10KeepAlive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
             [ParsedMessage(method: "GET", target: "/", version: .http1_0, fields: ["Connection: keep-alive"], body: [], keepAlive: true)]),
            ("ConnectionClose", "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
             [ParsedMessage(method: "GET", target: "/", version: .http1_1, fields: ["Host: x", "Connection: close"], body: [], keepAlive: false)]),
            ("ContentLengthBody", "POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
             [ParsedMessage(method: "POST", target: "/e", version: .http1_1, fields: ["Host: x", "Content-Length: 5"], body: bytes("hello"), keepAlive: true)]),
            ("RepeatedEqualContentLength", "POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 2\r\n\r\nhi",
             [ParsedMessage(method: "POST", target: "/e", version: .http1_1, fields: ["Host: x", "Content-Length: 2, 2"], body: bytes("hi"), keepAlive: true)]),
            ("ChunkedWithExtensionAndTrailer", "POST /e HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n!\r\n0\r\nX-Trailer: t\r\n\r\n",
             [ParsedMessage(method: "POST", target: "/e", version: .http1_1, fields: ["Host: x", "Transfer-Encoding: chunked"], body: bytes("hello!"), keepAlive: true)]),
            ("OWSTrimmed", "GET / HTTP/1.1\r\nHost:   x \t\r\n\r\n",
             [ParsedMessage(method: "GET", target: "/", version: .http1_1, fields: ["Host: x"], body: [], keepAlive: true)]),
            ("LeadingEmptyLineIgnored", "\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
             [ParsedMessage(method: "GET", target: "/", version: .http1_1, fields: ["Host: x"], body: [], keepAlive: true)]),
            ("BareLFLineEnds", "GET / HTTP/1.1\nHost: x\n\n",
             [ParsedMessage(method: "GET", target: "/", version: .http1_1, fields: ["Host: x"], body: [], keepAlive: true)]),
            ("OptionsAsterisk", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
             [ParsedMessage(method: "OPTIONS", target: "*", version: .http1_1, fields: ["Host: x"], body: [], keepAlive: true)]),
            ("ThreePipelined", "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\n\r\n",
             (1...3).map { ParsedMessage(method: "GET", target: "/\($0)", version: .http1_1, fields: ["Host: x"], body: [], keepAlive: true) }),
            ("ObsTextInValue", "GET / HTTP/1.1\r\nHost: x\r\nX-A: caf\u{e9}\r\n\r\n",
             [ParsedMessage(method: "GET", target: "/", version: .http1_1, fields: ["Host: x", "X-A: caf\u{e9}"], body: [], keepAlive: true)]),
        ]
        for row in rows {
            switch parseRequests([bytes(row.request)]) {
            case .success(let messages): XCTAssertEqual(messages, row.expected, row.name)
            case .failure(let error): XCTFail("\(row.name): rejected with \(error)")
            }
        }
    }

    /// Every way of splitting a valid stream into two pieces, and byte by byte, parses the same.
    func testEverySplitParsesTheSame() throws {
        let stream = bytes("POST /e HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /2?q HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\nHost: x\r\n\r\n")
        let whole = try parseRequests([stream]).get()
        XCTAssertEqual(whole.count, 3)
        for cut in 1..<stream.count {
            XCTAssertEqual(try parseRequests([Array(stream[..<cut]), Array(stream[cut...])]).get(), whole, "split at \(cut)")
        }
        XCTAssertEqual(try parseRequests(stream.map { [$0] }).get(), whole, "byte by byte")
    }

    /// Random splits of random valid requests give the same parse as the whole (property test,
    /// seeded so a failure can be replayed).
    func testRandomSplitsGiveTheSameParse() throws {
        var rng = SplitMix64(seed: 0xC0_25D)
        for iteration in 0..<300 {
            let request = randomRequest(&rng)
            let whole = try parseRequests([request]).get()
            var pieces: [[UInt8]] = []
            var i = 0
            while i < request.count {
                let n = Int(rng.next() % 17) + 1
                pieces.append(Array(request[i..<min(request.count, i + n)]))
                i += n
            }
            XCTAssertEqual(try parseRequests(pieces).get(), whole, "iteration \(iteration)")
        }
    }

    func testLimitsAreConfigurable() {
        var limits = HTTPLimits()
        limits.maxBodyBytes = 4
        XCTAssertEqual(parseRequests([bytes("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")], limits: limits).failureStatus, 413)
        XCTAssertNil(parseRequests([bytes("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nhell")], limits: limits).failureStatus)
    }

    func testTruncatedMessageIsAnErrorAtEOF() {
        var parser = HTTPParser(mode: .request)
        parser.feed(bytes("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhe"))
        XCTAssertNotNil(try parser.next())  // head
        XCTAssertNotNil(try parser.next())  // "he"
        XCTAssertThrowsError(try parser.finish())
    }

    func testResponseFraming() throws {
        func parseResponse(_ text: String, method: HTTPRequest.Method = .get, eof: Bool = false) throws -> (Int, [UInt8], Bool) {
            var parser = HTTPParser(mode: .response(requestMethod: method))
            parser.feed(bytes(text))
            var status = 0
            var body: [UInt8] = []
            var ended = false
            while let event = try parser.next() ?? (eof ? parser.finish() : nil) {
                switch event {
                case .responseHead(let head): status = head.response.status.code
                case .body(let b): body += b
                case .end: ended = true
                case .requestHead: XCTFail()
                }
                if ended { break }
            }
            return (status, body, ended)
        }
        XCTAssertEqual(try parseResponse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi").1, bytes("hi"))
        XCTAssertEqual(try parseResponse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n").1, bytes("hi"))
        let close = try parseResponse("HTTP/1.1 200 OK\r\n\r\nuntil close", eof: true)
        XCTAssertEqual(close.1, bytes("until close"))
        XCTAssertTrue(close.2)
        let head = try parseResponse("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", method: .head)
        XCTAssertEqual(head.0, 200)
        XCTAssertTrue(head.2, "a response to HEAD has no body")
        XCTAssertTrue(try parseResponse("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n").2)
        let interim = try parseResponse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")
        XCTAssertEqual(interim.0, 204, "interim responses are skipped")
        XCTAssertThrowsError(try parseResponse("HTTP/1.1 2x0 OK\r\n\r\n"))
    }
}

extension Result where Failure == HTTPParseError {
    var failureStatus: Int? {
        if case .failure(let e) = self { return e.status.code }
        return nil
    }
}


/// A random valid request: random method, path, fields and a Content-Length or chunked body.
func randomRequest(_ rng: inout SplitMix64) -> [UInt8] {
    let methods = ["GET", "POST", "PUT", "DELETE", "PATCH"]
    let method = methods[Int(rng.next() % UInt64(methods.count))]
    let path = "/" + (0..<Int(rng.next() % 4)).map { _ in "seg\(rng.next() % 1000)" }.joined(separator: "/")
    var text = "\(method) \(path) HTTP/1.1\r\nHost: h\(rng.next() % 10)\r\n"
    for i in 0..<Int(rng.next() % 6) { text += "X-Field-\(i): value \(rng.next() % 100000)\r\n" }
    let body = [UInt8]((0..<Int(rng.next() % 300)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
    var out: [UInt8]
    if rng.next() % 2 == 0 {
        text += "Content-Length: \(body.count)\r\n\r\n"
        out = bytes(text) + body
    } else {
        text += "Transfer-Encoding: chunked\r\n\r\n"
        out = bytes(text)
        var i = 0
        while i < body.count {
            let n = min(body.count - i, Int(rng.next() % 50) + 1)
            out += bytes(String(n, radix: 16) + "\r\n") + body[i..<i + n] + bytes("\r\n")
            i += n
        }
        out += bytes("0\r\n\r\n")
    }
    return out
}

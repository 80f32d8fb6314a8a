import Foundation
import TestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The HTTP core as a client sees it: the real binary on an ephemeral loopback port, spoken
/// to over raw sockets.
final class HTTPServerIntegrationTests: XCTestCase {
    private var corsd: CorsdProcess!

    override func setUpWithError() throws {
        corsd = try CorsdProcess(arguments: ["--header-timeout", "1", "--max-body-bytes", "65536"])
    }

    override func tearDown() {
        corsd.stop()
    }

    private func connect() throws -> RawSocket { try RawSocket(port: corsd.port) }

    func testHealthz() throws {
        let s = try connect()
        try s.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        let r = try s.readResponse()
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.text, #"{"status":"ok"}"#)
        XCTAssertEqual(r.field("content-type"), "application/json")
        XCTAssertNotNil(r.field("date"))
    }

    func testKeepAliveServesSeveralRequestsOnOneConnection() throws {
        let s = try connect()
        for _ in 0..<5 {
            try s.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            XCTAssertEqual(try s.readResponse().status, 200)
        }
    }

    func testConnectionCloseIsHonoured() throws {
        let s = try connect()
        try s.send("GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        let r = try s.readResponse()
        XCTAssertEqual(r.field("connection"), "close")
        XCTAssertEqual(try s.readToEnd(), [], "server closes after the response")
    }

    func testThreePipelinedRequestsAreAnsweredInOrder() throws {
        let s = try connect()
        // The first is the slowest: order must still be kept.
        try s.send("GET /debug/delay/300 HTTP/1.1\r\nHost: t\r\n\r\nGET /debug/bytes/3 HTTP/1.1\r\nHost: t\r\n\r\nGET /debug/bytes/5 HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(try s.readResponse().text, #"{"delayed_ms":300}"#)
        XCTAssertEqual(try s.readResponse().body.count, 3)
        XCTAssertEqual(try s.readResponse().body.count, 5)
    }

    func testChunkedUploadIsReassembled() throws {
        let s = try connect()
        try s.send("POST /debug/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n")
        let r = try s.readResponse()
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.text, "hello, world")
    }

    func testHeadHasNoBodyButKeepsContentLength() throws {
        let s = try connect()
        try s.send("HEAD /debug/bytes/1234 HTTP/1.1\r\nHost: t\r\n\r\n")
        let r = try s.readResponse(method: "HEAD")
        XCTAssertEqual(r.field("content-length"), "1234")
        XCTAssertEqual(r.body, [])
        // The connection is still in sync: the next response parses.
        try s.send("GET /debug/bytes/2 HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(try s.readResponse().body, Array("xx".utf8))
    }

    func testExpect100ContinueGetsAnInterimResponseBeforeTheBody() throws {
        let s = try connect()
        try s.send("POST /debug/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        let interim = String(decoding: try s.readSome(), as: UTF8.self)
        XCTAssertEqual(interim, "HTTP/1.1 100 Continue\r\n\r\n")
        try s.send("ping")
        XCTAssertEqual(try s.readResponse().text, "ping")
    }

    func testOversizedBodyIsRefusedWith413BeforeItIsRead() throws {
        let s = try connect()
        try s.send("POST /debug/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 70000\r\nExpect: 100-continue\r\n\r\n")
        let r = try s.readResponse()
        XCTAssertEqual(r.status, 413)
        XCTAssertEqual(r.field("connection"), "close")
    }

    func testLimitsAnswerWithTheirStatusThenClose() throws {
        let rows: [(name: String, request: String, status: Int)] = [
            ("RequestLineTooLong", "GET /\(String(repeating: "a", count: 9000)) HTTP/1.1\r\nHost: t\r\n\r\n", 414),
            ("HeaderSectionTooLarge", "GET / HTTP/1.1\r\nHost: t\r\nX-Big: \(String(repeating: "b", count: 17000))\r\n\r\n", 431),
            ("TooManyFields", "GET / HTTP/1.1\r\nHost: t\r\n" + (0..<101).map { "X-\($0): v\r\n" }.joined() + "\r\n", 431),
            ("BodyTooLarge", "POST /debug/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 65537\r\n\r\n", 413),
            ("Smuggling", "POST /debug/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
            ("UnknownCoding", "POST /debug/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
            ("AbsoluteForm", "GET http://127.0.0.1/healthz HTTP/1.1\r\nHost: t\r\n\r\n", 400),
        ]
        for row in rows {
            let s = try connect()
            try s.send(row.request)
            let r = try s.readResponse()
            XCTAssertEqual(r.status, row.status, row.name)
            XCTAssertEqual(r.field("connection"), "close", row.name)
            XCTAssertEqual(try s.readToEnd(), [], "\(row.name): closed after the error")
        }
    }

    func testRejectedRequestWithUnreadInputStillGetsItsResponse() throws {
        // Lingering close: the 400 must arrive even though we keep sending.
        let s = try connect()
        try s.send("GET / HTTP/1.1\r\nHost: t\r\nBad Name: x\r\n\r\n" + String(repeating: "junk", count: 20000))
        XCTAssertEqual(try s.readResponse().status, 400)
    }

    func testSlowHeadersTimeOutWith408() throws {
        let s = try connect()
        try s.send("GET /healthz HTTP/1.1\r\nHo")
        let r = try s.readResponse()
        XCTAssertEqual(r.status, 408)
        XCTAssertEqual(r.field("content-type"), "application/problem+json")
        XCTAssertEqual((r.json["errors"] as? [[String: Any]])?.first?["rule"] as? String, "request_timeout")
        XCTAssertEqual(try s.readToEnd(), [])
    }

    func testLargeResponseIsStreamedWhole() throws {
        let s = try connect()
        try s.send("GET /debug/bytes/5000000 HTTP/1.1\r\nHost: t\r\n\r\n")
        let r = try s.readResponse()
        XCTAssertEqual(r.field("transfer-encoding"), "chunked")
        XCTAssertEqual(r.body.count, 5_000_000)
        XCTAssertTrue(r.body.allSatisfy { $0 == 0x78 })
    }

    func testHTTP10GetsACloseDelimitedOrLengthFramedResponse() throws {
        let s = try connect()
        try s.send("GET /debug/bytes/4 HTTP/1.0\r\n\r\n")
        let r = try s.readResponse()
        XCTAssertEqual(r.body.count, 4)
        XCTAssertEqual(try s.readToEnd(), [], "HTTP/1.0 without keep-alive closes")
    }

    func testGracefulShutdownFinishesTheInFlightRequest() throws {
        let s = try connect()
        try s.send("GET /debug/delay/1000 HTTP/1.1\r\nHost: t\r\n\r\n")
        // Wait (bounded) until the handler has the request: the route logs when it starts.
        let deadline = Date().addingTimeInterval(10)
        while !corsd.stderr.contains("delaying response by 1000 ms") && Date() < deadline { usleep(1000) }
        XCTAssertTrue(corsd.stderr.contains("delaying response by 1000 ms"))
        kill(corsd.pid, SIGTERM)
        let r = try s.readResponse()
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.field("connection"), "close")
        XCTAssertEqual(corsd.waitForExit(), 0)
        XCTAssertThrowsError(try connect(), "no longer accepting")
        XCTAssertTrue(corsd.stderr.contains("shutting down"))
    }
}

final class ConnectionCapIntegrationTests: XCTestCase {
    func testConnectionsBeyondTheCapGet503() throws {
        let corsd = try CorsdProcess(arguments: ["--max-connections", "2"])
        defer { corsd.stop() }
        let a = try RawSocket(port: corsd.port), b = try RawSocket(port: corsd.port)
        for s in [a, b] {
            try s.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            XCTAssertEqual(try s.readResponse().status, 200)
        }
        let c = try RawSocket(port: corsd.port)
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 503)
        XCTAssertEqual(r.field("retry-after"), "1")
        // The two admitted connections are unaffected.
        try a.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(try a.readResponse().status, 200)
    }

    func testStartupLogsTheOpenFileLimitAndCap() throws {
        let corsd = try CorsdProcess()
        defer { corsd.stop() }
        XCTAssertTrue(corsd.stderr.contains("connection_cap="), corsd.stderr)
        XCTAssertTrue(corsd.stderr.contains("soft="), corsd.stderr)
    }

    func testListensOnAnIPv6Literal() throws {
        let corsd = try CorsdProcess(arguments: ["--listen", "[::1]:0"])
        defer { corsd.stop() }
        XCTAssertTrue(corsd.stderr.contains("listening on [::1]:"), corsd.stderr)
        let s = try RawSocket(port: corsd.port, host: "::1")
        try s.send("GET /healthz HTTP/1.1\r\nHost: [::1]\r\n\r\n")
        XCTAssertEqual(try s.readResponse().status, 200)
    }

    func testBadListenAddressIsAClearError() throws {
        for bad in ["localhost:99999", "127.0.0.1", "[::1:80", "::1:80"] {
            let result = try CorsdProcess.run(["serve", "--listen", bad, "--db", CorsdProcess.temporaryDirectory() + "/c.sqlite"])
            XCTAssertNotEqual(result.status, 0, bad)
            XCTAssertTrue(result.stderr.contains("--listen"), result.stderr)
        }
    }
}

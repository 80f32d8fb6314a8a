import Foundation
import TestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The real binary in front of a scripted upstream (raw sockets) that answers each tile with
/// one hostile message. A browser-like client pipelines a second request on the same
/// keep-alive connection and must get exactly its own response: whatever the upstream sent,
/// corsd's own framing decides what the client reads.
final class HostileUpstreamTests: XCTestCase {
    enum Outcome: Equatable {
        /// A response with this status (and body, when given), then the pipelined one intact.
        case answered(Int, body: String?)
        /// The head was already out: the client connection is dropped mid-message.
        case aborted
    }

    static let admin = "hostile-admin"
    static let viewer = "https://viewer.example.org"

    /// RFC 9112 §6.3's message-length cases and the other framing classes of the issue.
    static let rows: [(name: String, upstream: String, expect: Outcome)] = [
        ("ContentLengthAndTransferEncoding", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled", .answered(502, body: nil)),
        ("GzipTransferCoding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", .answered(502, body: nil)),
        ("ChunkedTwice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", .answered(502, body: nil)),
        ("TransferCodingNotFinalChunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\nhello", .answered(502, body: nil)),
        ("ConflictingContentLengths", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", .answered(502, body: nil)),
        ("NegativeContentLength", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nhello", .answered(502, body: nil)),
        ("UnsolicitedSwitchingProtocols", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled", .answered(502, body: nil)),
        ("Interim102", "HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", .answered(502, body: nil)),
        ("EarlyHintsThenOK", "HTTP/1.1 103 Early Hints\r\nLink: </x.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", .answered(200, body: "ok")),
        ("ChunkedSentWithCorsdsFraming", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", .answered(200, body: "hello")),
        ("CloseDelimited", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello world", .answered(200, body: "hello world")),
        ("BytesAfterTheContentLength", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled", .answered(200, body: "hello")),
        ("SameContentLengthTwice", "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello", .answered(200, body: "hello")),
        ("BodyShortOfItsLength", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello", .aborted),
        ("BadChunkSize", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", .aborted),
        ("ChunkSizeOverflow", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\nhello\r\n0\r\n\r\n", .aborted),
        ("ChunkLongerThanItsSize", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n", .aborted),
        // More fields than corsd can relay and still stay within its own limits once its CORS
        // fields are added (found by the upstream fuzzer).
        ("TooManyFieldsToRelay", "HTTP/1.1 200 OK\r\n" + (0..<90).map { "X-F\($0): v\r\n" }.joined() + "Content-Length: 2\r\n\r\nok", .answered(502, body: nil)),
        // Fields corsd interprets, malformed or huge: ignored or saturated, never a trap.
        ("HugeMaxAge", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nETag: \"a\"\r\nCache-Control: max-age=999999999999999999999999999\r\nAge: 99999999999999999999999\r\n\r\nok", .answered(200, body: "ok")),
        ("EmptyCacheControlDirectives", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nETag: \"b\"\r\nCache-Control: =, ,=5, max-age=, s-maxage=-1, \"\r\n\r\nok", .answered(200, body: "ok")),
        ("StrangeVaryAndDates", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nVary: , ,\r\nExpires: yesterday\r\nDate: \r\nETag: W/\r\n\r\nok", .answered(200, body: "ok")),
    ]

    func testEveryHostileUpstreamMessageLeavesTheClientConnectionWellFramed() throws {
        let rows = Self.rows
        let upstream = try RawServer { connection in
            while let head = connection.readHead() {
                guard let index = Self.imageID(in: head), index < rows.count else {
                    connection.send("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond")
                    continue
                }
                connection.send(rows[index].upstream)
                return  // closes: nothing the hostile message left behind is reused
            }
        }
        defer { upstream.stop() }
        let corsd = try CorsdProcess(environment: ["CORSD_ADMIN_TOKEN": Self.admin], debugRoutes: false)
        defer { corsd.stop() }
        let api = APIClient(port: corsd.port, token: Self.admin)
        let created = try api.call("PUT", "/api/v1/deployments/hostile", json: #"{"upstream":"http://127.0.0.1:\#(upstream.port)","cors":{"allowed_origins":["\#(Self.viewer)"]}}"#)
        XCTAssertEqual(created.status, 201, created.text)

        for (index, row) in rows.enumerated() {
            let client = try RawSocket(port: corsd.port)
            let request = { (id: Int, close: Bool) in
                "GET /tiles/hostile/ome_seadragon/deepzoom/get/\(id).dzi HTTP/1.1\r\nHost: corsd\r\nOrigin: \(Self.viewer)\r\n" + (close ? "Connection: close\r\n" : "") + "\r\n"
            }
            try client.send(request(index, false) + request(1000, true))
            do {
            switch row.expect {
            case .answered(let status, let body):
                let first = try client.readResponse()
                XCTAssertEqual(first.status, status, row.name)
                if let body { XCTAssertEqual(first.text, body, row.name) }
                XCTAssertEqual(first.field("access-control-allow-origin"), Self.viewer, "\(row.name): corsd's CORS headers on every answer")
                if status == 502 {
                    XCTAssertEqual(first.field("content-type"), "application/problem+json", row.name)
                    XCTAssertFalse(first.text.contains("127.0.0.1"), "\(row.name): the body names the deployment, not the upstream address")
                }
                let second = try client.readResponse()
                XCTAssertEqual(second.status, 200, "\(row.name): the pipelined request gets its own answer")
                XCTAssertEqual(second.text, "second", row.name)
                XCTAssertEqual(try client.readToEnd(), [], "\(row.name): nothing after the two responses")
            case .aborted:
                XCTAssertThrowsError(try client.readResponse(), "\(row.name): a message that cannot be completed is cut off") { _ in }
            }
            } catch {
                XCTFail("\(row.name): \(error)")
            }
            XCTAssertEqual(kill(corsd.pid, 0), 0, "\(row.name): corsd is still running")
        }
    }

    /// `…/get/<id>.dzi` in a request head.
    static func imageID(in head: String) -> Int? {
        guard let start = head.range(of: "/get/"), let end = head.range(of: ".dzi", range: start.upperBound..<head.endIndex) else { return nil }
        return Int(head[start.upperBound..<end.lowerBound])
    }
}

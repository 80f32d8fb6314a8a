import Dispatch
import Foundation
import HTTPTypes
import Synchronization
import TestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

@testable import HTTPCore

/// TLS on both sides of HTTPCore: the real server with a certificate, the real client verifying
/// it. Everything is real OpenSSL; the certificates come from the `openssl` command (a test CA,
/// a leaf for 127.0.0.1 and localhost, a leaf for another name, a self-signed one).
final class TLSTests: XCTestCase {
    private var dir = ""
    private var server: HTTPServer!
    private var port = 0

    private func sh(_ command: String) throws {
        XCTAssertEqual(try CorsdProcess.runShell("cd '\(dir)' && \(command)"), 0, command)
    }

    /// A CA and leaves signed by it (`name.pem`/`name.key`), for the SANs given.
    private func makePKI() throws {
        dir = NSTemporaryDirectory() + "corsd-tls-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 -subj '/CN=corsd test CA' 2>/dev/null")
        for (name, san, cn) in [("leaf", "IP:127.0.0.1,DNS:localhost", "localhost"), ("other", "DNS:elsewhere.example", "elsewhere.example"),
                                ("client", "DNS:ops", "ansible")] {
            try sh("""
                openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout \(name).key -out \(name).csr -subj '/O=Example Ops/CN=\(cn)' 2>/dev/null && \
                printf 'subjectAltName=\(san)\\n' > \(name).ext && \
                openssl x509 -req -in \(name).csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile \(name).ext -out \(name).pem 2>/dev/null
                """)
        }
        try sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout self.key -out self.pem -days 2 -subj '/CN=localhost' -addext 'subjectAltName=IP:127.0.0.1' 2>/dev/null")
    }

    private func pem(_ name: String) throws -> String { try String(contentsOfFile: "\(dir)/\(name).pem", encoding: .utf8) }

    override func setUpWithError() throws {
        signal(SIGPIPE, SIG_IGN)  // a test's write to a connection the server closed must fail, not end the run
        try makePKI()
        var configuration = HTTPServerConfiguration(address: try SocketAddress(parsing: "127.0.0.1:0"))
        configuration.tls = try TLSServerContext(certificatePath: "\(dir)/leaf.pem", keyPath: "\(dir)/leaf.key", clientCAPath: "\(dir)/ca.pem")
        configuration.timeouts.header = 1
        configuration.shutdownGrace = 1
        server = HTTPServer(configuration: configuration) { request, writer in
            switch request.path {
            case "/big":
                // 1 MiB in 64 KiB writes: many records, and the back-pressure path.
                writer.writeHead(HTTPResponse(status: .ok), contentLength: 1 << 20)
                let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 65536)
                @Sendable func send(_ left: Int) {
                    guard left > 0 else { return writer.end() }
                    writer.writeBody(chunk) { send(left - 1) }
                }
                send(16)
            default:
                let who = request.tls.map { "\($0.protocolName) \($0.peerSubject ?? "-")" } ?? "plain"
                writer.respond(HTTPResponse(status: .ok), body: Array("\(request.path) \(who)".utf8))
            }
        }
        port = try server.start()
    }

    override func tearDown() {
        let done = expectation(description: "server stopped")
        server.shutdown { done.fulfill() }
        wait(for: [done], timeout: 15)
        try? FileManager.default.removeItem(atPath: dir)
    }

    private func get(_ client: HTTPClient, _ endpoint: UpstreamEndpoint, _ target: String) -> Result<HTTPClientResponse, HTTPClientError> {
        let result = Mutex<Result<HTTPClientResponse, HTTPClientError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        client.execute(HTTPClientRequest(endpoint: endpoint, target: target, timeouts: HTTPClientTimeouts(connect: 5, header: 5, total: 10))) { r in
            result.withLock { $0 = r }
            done.signal()
        }
        XCTAssertEqual(done.wait(timeout: .now() + 20), .success, "no completion for \(target)")
        return result.withLock { $0 } ?? .failure(.cancelled)
    }

    private func body(_ r: Result<HTTPClientResponse, HTTPClientError>) -> String? {
        guard case .success(let response) = r else { return nil }
        return String(decoding: response.body, as: UTF8.self)
    }

    func testRoundTripOverTLS13WithVerificationByTheGivenCA() throws {
        let endpoint = UpstreamEndpoint(host: "127.0.0.1", port: port, tls: try TLSClientContext(caBundlePEM: try pem("ca")))
        let client = HTTPClient()
        XCTAssertEqual(body(get(client, endpoint, "/a")), "/a TLSv1.3 -")
        XCTAssertEqual(body(get(client, endpoint, "/b")), "/b TLSv1.3 -")
        XCTAssertEqual(client.connectionsOpened(to: endpoint), 1, "the second request reuses the pooled TLS connection")
    }

    func testLargeBodyCrossesManyRecordsIntact() throws {
        let endpoint = UpstreamEndpoint(host: "127.0.0.1", port: port, tls: try TLSClientContext(caBundlePEM: try pem("ca")))
        guard case .success(let response) = get(HTTPClient(), endpoint, "/big") else { return XCTFail("no response") }
        XCTAssertEqual(response.body.count, 1 << 20)
        XCTAssertTrue(response.body.allSatisfy { $0 == UInt8(ascii: "x") })
    }

    func testNewConnectionsResumeTheSession() throws {
        let endpoint = UpstreamEndpoint(host: "127.0.0.1", port: port, tls: try TLSClientContext(caBundlePEM: try pem("ca")))
        let client = HTTPClient(maxConnectionsPerEndpoint: 1, idleTimeout: 30)
        XCTAssertNotNil(body(get(client, endpoint, "/first")))
        // Close the pooled connection so the next request needs a new one.
        XCTAssertTrue(client.evictIdleConnection())
        let closed = expectation(description: "evicted connection gone")
        DispatchQueue.global().async {
            while client.connectionCount(to: endpoint) != 0 { usleep(1000) }
            closed.fulfill()
        }
        wait(for: [closed], timeout: 5)
        XCTAssertNotNil(body(get(client, endpoint, "/second")))
        XCTAssertEqual(client.connectionsOpened(to: endpoint), 2)
        XCTAssertEqual(client.connectionsResumed(to: endpoint), 1, "the second connection resumed the first one's session")
    }

    func testCertificateForAnotherNameFailsWithHostnameMismatch() throws {
        let other = try TLSServerContext(certificatePath: "\(dir)/other.pem", keyPath: "\(dir)/other.key")
        var configuration = HTTPServerConfiguration(address: try SocketAddress(parsing: "127.0.0.1:0"))
        configuration.tls = other
        let wrong = HTTPServer(configuration: configuration) { _, writer in writer.respond(HTTPResponse(status: .ok), body: []) }
        let wrongPort = try wrong.start()
        defer { wrong.shutdown {} }
        let endpoint = UpstreamEndpoint(host: "127.0.0.1", port: wrongPort, tls: try TLSClientContext(caBundlePEM: try pem("ca")))
        guard case .failure(.tlsFailed(let reason)) = get(HTTPClient(), endpoint, "/") else { return XCTFail("a certificate for another name was accepted") }
        XCTAssertTrue(reason.contains("IP address mismatch") || reason.contains("hostname mismatch"), reason)
    }

    func testUnknownCAFailsVerification() throws {
        let endpoint = UpstreamEndpoint(host: "127.0.0.1", port: port, tls: try TLSClientContext(caBundlePEM: try pem("self")))
        guard case .failure(.tlsFailed(let reason)) = get(HTTPClient(), endpoint, "/") else { return XCTFail("an unknown CA was accepted") }
        XCTAssertTrue(reason.hasPrefix("certificate verify failed"), reason)
    }

    func testAClientCertificateVerifiedByTheClientCAReachesTheHandler() throws {
        // The client side here is Python-free: openssl s_client with the client certificate.
        let out = dir + "/mtls.out"
        try sh("printf 'GET /who HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' | openssl s_client -quiet -connect 127.0.0.1:\(port) -CAfile ca.pem -cert client.pem -key client.key > \(out) 2>/dev/null")
        let text = try String(contentsOfFile: out, encoding: .utf8)
        XCTAssertTrue(text.hasSuffix("/who TLSv1.3 CN=ansible,O=Example Ops"), text)
    }

    func testPipelinedRequestsInSmallRecordsAllGetAnswers() throws {
        // 100 pipelined requests, one TLS record each, written before reading anything: the
        // server's OpenSSL reads them ahead in one go and the server parses 8 reads per event,
        // so after the first event the rest sit inside OpenSSL with the socket empty. Relying
        // on epoll alone, the connection stalls after 8 answers (it did, before
        // `hasBufferedInput`). The client is corsd's own TLS session on a blocking socket.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { Glibc.close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        try SocketAddress(host: "127.0.0.1", port: port).withSockaddr { XCTAssertEqual(Glibc.connect(fd, $0, $1), 0) }
        let tls = try XCTUnwrap(TLSClientContext(caBundlePEM: try pem("ca")).connect(fd: fd, host: "127.0.0.1", session: nil))
        for i in 0..<100 {
            let request = Array("GET /r\(i) HTTP/1.1\r\nHost: x\r\n\(i == 99 ? "Connection: close\r\n" : "")\r\n".utf8)
            guard case .bytes(request.count) = request.withUnsafeBytes({ tls.write($0) }) else { return XCTFail("write \(i) failed") }
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        reading: while true {
            switch buffer.withUnsafeMutableBufferPointer({ tls.read(into: $0) }) {
            case .bytes(let n): received += buffer[0..<n]
            case .endOfStream: break reading
            case .wouldBlock, .failed: break reading  // a receive timeout: the server stalled
            }
        }
        let text = String(decoding: received, as: UTF8.self)
        XCTAssertEqual(text.components(separatedBy: "HTTP/1.1 200 OK").count - 1, 100, "answers before the stream ended")
        XCTAssertTrue(text.hasSuffix("/r99 TLSv1.3 -"), String(text.suffix(100)))
    }

    /// What the server sent before closing (a reset counts as closing); throws if it kept
    /// the connection open past the socket's receive timeout.
    private func untilClosed(_ socket: RawSocket) throws -> [UInt8] {
        var all: [UInt8] = []
        while true {
            let chunk: [UInt8]
            do { chunk = try socket.readSome() } catch SocketError.system(_, ECONNRESET) { return all }
            if chunk.isEmpty { return all }
            all += chunk
        }
    }

    func testPlaintextOnTheTLSPortIsClosedWithoutAnAnswer() throws {
        let socket = try RawSocket(port: port)
        try socket.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        let reply = try untilClosed(socket)
        XCTAssertFalse(String(decoding: reply, as: UTF8.self).contains("HTTP/1.1"), "no plaintext HTTP on a TLS port")
    }

    func testAnUnfinishedHandshakeIsClosedAtTheHeaderTimeout() throws {
        // The header timeout is 1 s here and the socket's receive timeout 10 s: an EOF (not a
        // receive timeout) shows the half handshake was closed by the server.
        let socket = try RawSocket(port: port, receiveTimeout: 10)
        try socket.send([0x16, 0x03, 0x01, 0x02, 0x00])  // a ClientHello record header, and nothing more
        XCTAssertEqual(try untilClosed(socket), [])
    }
}

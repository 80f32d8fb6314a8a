import Foundation
import HTTPCore

#if canImport(Glibc)
import Glibc
#endif

/// A blocking TCP client socket for tests that need to misbehave: send raw bytes, half-close,
/// reset, read exactly what the server sent.
public final class RawSocket {
    public let fd: Int32

    public init(port: Int, host: String = "127.0.0.1", receiveTimeout: Double = 10, sendBuffer: Int32? = nil) throws {
        let v6 = host.contains(":")
        fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SocketError.system("socket", errno) }
        if let sendBuffer {
            var size = sendBuffer
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var tv = timeval(tv_sec: Int(receiveTimeout), tv_usec: Int((receiveTimeout - receiveTimeout.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let rc: Int32
        if v6 {
            var addr = sockaddr_in6()
            addr.sin6_family = sa_family_t(AF_INET6)
            addr.sin6_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET6, host, &addr.sin6_addr)
            rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        } else {
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET, host, &addr.sin_addr)
            rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        guard rc == 0 else {
            let e = errno
            close(fd)
            throw SocketError.system("connect", e)
        }
    }

    deinit { close(fd) }

    public func send(_ text: String) throws { try send(Array(text.utf8)) }

    public func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw SocketError.system("send", errno) }
            offset += n
        }
    }

    public func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    /// Closes with an RST (SO_LINGER 0).
    public func reset() {
        var l = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
        shutdown(fd, Int32(SHUT_RDWR))
    }

    /// Reads once; empty at EOF; throws on timeout or error.
    public func readSome() throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = recv(fd, &buffer, buffer.count, 0)
        if n < 0 { throw SocketError.system("recv", errno) }
        return Array(buffer[0..<n])
    }

    /// Reads until EOF.
    public func readToEnd() throws -> [UInt8] {
        var all: [UInt8] = []
        while true {
            let chunk = try readSome()
            if chunk.isEmpty { return all }
            all += chunk
        }
    }

    private var parser: HTTPParser?

    /// Reads one whole response (for a request with `method`), leaving later bytes buffered.
    public func readResponse(method: String = "GET") throws -> RawResponse {
        if parser == nil { parser = HTTPParser(mode: .response(requestMethod: .init(method)!)) }
        parser!.mode = .response(requestMethod: .init(method)!)
        var response: RawResponse?
        var eof = false
        while true {
            while let event = try (parser!.next() ?? (eof ? parser!.finish() : nil)) {
                switch event {
                case .responseHead(let head):
                    response = RawResponse(status: head.response.status.code, fields: head.response.headerFields.map { ($0.name.canonicalName, $0.value) }, body: [])
                case .body(let b): response?.body += b
                case .end: return response!
                case .requestHead: break
                }
            }
            if eof { throw SocketError.system("recv: EOF before a complete response", 0) }
            let chunk = try readSome()
            if chunk.isEmpty { eof = true } else { parser!.feed(chunk) }
        }
    }
}

public struct RawResponse: Sendable {
    public var status: Int
    public var fields: [(String, String)]
    public var body: [UInt8]

    public func field(_ name: String) -> String? { fields.first { $0.0 == name.lowercased() }?.1 }
    public var text: String { String(decoding: body, as: UTF8.self) }
}

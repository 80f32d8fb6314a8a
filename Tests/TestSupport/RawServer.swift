import Foundation
import HTTPCore

#if canImport(Glibc)
import Glibc
#endif

/// A blocking loopback server whose every connection runs a test-written script on its own
/// thread: for upstreams that misbehave on purpose.
public final class RawServer: @unchecked Sendable {
    public let port: Int
    private let fd: Int32
    private let script: @Sendable (RawConnection) -> Void
    private let lock = NSLock()
    private var _accepted = 0

    public init(backlog: Int32 = 64, accepting: Bool = true, script: @escaping @Sendable (RawConnection) -> Void) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound0 = fd
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(bound0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        listen(fd, backlog)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = fd
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(bound, $0, &len) } }
        let port = Int(UInt16(bigEndian: addr.sin_port))
        self.port = port
        self.script = script
        if accepting {
            Thread.detachNewThread { [self] in acceptLoop() }
        }
    }

    /// Connections accepted so far.
    public var accepted: Int { lock.withLock { _accepted } }

    public func stop() { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }

    private func acceptLoop() {
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 { return }
            lock.withLock { _accepted += 1 }
            let connection = RawConnection(fd: client)
            Thread.detachNewThread { [script] in
                script(connection)
                connection.close()
            }
        }
    }
}

/// One accepted connection of a `RawServer`.
public final class RawConnection: @unchecked Sendable {
    let fd: Int32
    private var buffer: [UInt8] = []
    private var closed = false

    init(fd: Int32) {
        self.fd = fd
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Reads up to the end of a request head; returns the head text, or nil at EOF.
    public func readHead() -> String? {
        while true {
            if let range = buffer.firstRange(of: Array("\r\n\r\n".utf8)) {
                let head = String(decoding: buffer[..<range.upperBound], as: UTF8.self)
                buffer.removeSubrange(..<range.upperBound)
                return head
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 { return nil }
            buffer += chunk[0..<n]
        }
    }

    public func send(_ text: String) { send(Array(text.utf8)) }

    public func send(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    public func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(fd)
    }
}

import CCorsdShim
import Foundation

#if canImport(Glibc)
import Glibc
#endif

public enum SocketError: Error, CustomStringConvertible, Equatable {
    case system(String, Int32)
    case invalidAddress(String)

    public var description: String {
        switch self {
        case .system(let call, let code): return "\(call): \(String(cString: strerror(code)))"
        case .invalidAddress(let a): return "invalid address '\(a)': expected HOST:PORT with an IPv4 or [IPv6] literal"
        }
    }
}

/// A literal socket address (IPv4 or IPv6) and port.
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `127.0.0.1:8080` or `[::1]:8080`. Host names are not accepted: a listener binds
    /// to a literal address so that what it listens on is never a DNS surprise.
    public init(parsing text: String) throws {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw SocketError.invalidAddress(text)
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else {
                throw SocketError.invalidAddress(text)
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard let port = Int(portText), (0...65535).contains(port), !host.isEmpty else {
            throw SocketError.invalidAddress(text)
        }
        self.host = String(host)
        self.port = port
        guard (try? withSockaddr { _, _ in }) != nil else { throw SocketError.invalidAddress(text) }
    }

    /// `--listen` forms: `HOST:PORT` with an address or a name (resolved now, first result),
    /// `[IPv6]:PORT`, and `:PORT` for every IPv4 interface.
    public init(listening text: String) throws {
        if text.hasPrefix(":") {
            guard let port = Int(text.dropFirst()), (0...65535).contains(port) else { throw SocketError.invalidAddress(text) }
            self.init(host: "0.0.0.0", port: port)
            return
        }
        if let literal = try? SocketAddress(parsing: text) {
            self = literal
            return
        }
        guard let colon = text.lastIndex(of: ":"), !text[..<colon].isEmpty, !text[..<colon].contains(":"),
              let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw SocketError.invalidAddress(text)
        }
        self = try Self.resolve(host: String(text[..<colon]), port: port)
    }

    /// Literal addresses directly, host names through getaddrinfo (first result).
    public static func resolve(host: String, port: Int) throws -> SocketAddress {
        if let literal = try? SocketAddress(parsing: host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)") {
            return literal
        }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &result)
        guard rc == 0, let first = result else { throw SocketError.invalidAddress("\(host): \(String(cString: gai_strerror(rc)))") }
        defer { freeaddrinfo(result) }
        var storage = sockaddr_storage()
        memcpy(&storage, first.pointee.ai_addr, Int(first.pointee.ai_addrlen))
        guard let address = withUnsafePointer(to: &storage, { SocketAddress.from($0) }) else {
            throw SocketError.invalidAddress(host)
        }
        return address
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    var family: Int32 { host.contains(":") ? AF_INET6 : AF_INET }

    /// Calls `body` with this address as a sockaddr.
    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> R) throws -> R {
        if family == AF_INET6 {
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_port = in_port_t(UInt16(port).bigEndian)
            guard inet_pton(AF_INET6, host, &a.sin6_addr) == 1 else { throw SocketError.invalidAddress(host) }
            return try withUnsafePointer(to: &a) {
                try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        } else {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = in_port_t(UInt16(port).bigEndian)
            guard inet_pton(AF_INET, host, &a.sin_addr) == 1 else { throw SocketError.invalidAddress(host) }
            return try withUnsafePointer(to: &a) {
                try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
    }

    /// Reads a sockaddr filled by accept/getsockname.
    static func from(_ storage: UnsafePointer<sockaddr_storage>) -> SocketAddress? {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch Int32(storage.pointee.ss_family) {
        case AF_INET:
            return storage.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { p in
                var addr = p.pointee.sin_addr
                inet_ntop(AF_INET, &addr, &buffer, socklen_t(buffer.count))
                return SocketAddress(host: cString(buffer), port: Int(UInt16(bigEndian: p.pointee.sin_port)))
            }
        case AF_INET6:
            return storage.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in
                var addr = p.pointee.sin6_addr
                inet_ntop(AF_INET6, &addr, &buffer, socklen_t(buffer.count))
                return SocketAddress(host: cString(buffer), port: Int(UInt16(bigEndian: p.pointee.sin6_port)))
            }
        default:
            return nil
        }
    }
}

/// The text of a NUL-terminated C buffer.
func cString(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

enum Socket {
    static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) {
        var v = value
        _ = setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size))
    }

    static func setNoDelay(_ fd: Int32) { setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1) }

    /// Creates a non-blocking listening socket bound to `address`; returns it and the bound port.
    static func listen(on address: SocketAddress, backlog: Int32 = 1024) throws -> (fd: Int32, port: Int) {
        let fd = corsd_socket_nonblocking(address.family, Int32(SOCK_STREAM.rawValue))
        guard fd >= 0 else { throw SocketError.system("socket", errno) }
        setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
        if address.family == AF_INET6 { setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1) }
        do {
            try address.withSockaddr { sa, len in
                guard bind(fd, sa, len) == 0 else { throw SocketError.system("bind \(address)", errno) }
            }
            guard Glibc.listen(fd, backlog) == 0 else { throw SocketError.system("listen", errno) }
        } catch {
            close(fd)
            throw error
        }
        return (fd, localAddress(fd)?.port ?? address.port)
    }

    static func localAddress(_ fd: Int32) -> SocketAddress? {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) == 0 }
        }
        return ok ? withUnsafePointer(to: &storage) { SocketAddress.from($0) } : nil
    }

    /// `writev` of as many buffers as fit; returns bytes written, 0 on EAGAIN, or -errno.
    static func writev(_ fd: Int32, _ buffers: ArraySlice<[UInt8]>, firstOffset: Int) -> Int {
        let count = min(buffers.count, 64)
        // The iovecs live on the stack; the arrays they point into are kept alive by `buffers`.
        return withExtendedLifetime(buffers) {
            withUnsafeTemporaryAllocation(of: iovec.self, capacity: count) { iovecs in
                var used = 0
                for (i, buffer) in buffers.prefix(count).enumerated() {
                    let offset = i == 0 ? firstOffset : 0
                    buffer.withUnsafeBytes { raw in
                        guard let base = raw.baseAddress, raw.count > offset else { return }
                        iovecs[used] = iovec(iov_base: UnsafeMutableRawPointer(mutating: base + offset), iov_len: raw.count - offset)
                        used += 1
                    }
                }
                while true {
                    let n = Glibc.writev(fd, iovecs.baseAddress, Int32(used))
                    if n >= 0 { return n }
                    if errno == EINTR { continue }
                    if errno == EAGAIN || errno == EWOULDBLOCK { return 0 }
                    return -Int(errno)
                }
            }
        }
    }
}

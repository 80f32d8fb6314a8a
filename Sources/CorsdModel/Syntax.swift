import CORSPolicy

/// The OMERO.web base URL a deployment's tiles are fetched from: `http(s)://host[:port][/prefix]`.
public struct UpstreamURL: Sendable, Hashable, Codable, CustomStringConvertible {
    public var scheme: String
    /// Host as it goes on the wire (IPv6 without brackets).
    public var host: String
    public var port: Int
    /// Path prefix without a trailing slash ("" for none), e.g. `/omero`.
    public var pathPrefix: String

    public var serialized: String {
        let h = host.contains(":") ? "[\(host)]" : host
        let defaultPort = scheme == "https" ? 443 : 80
        return "\(scheme)://\(h)" + (port == defaultPort ? "" : ":\(port)") + pathPrefix
    }

    public init(scheme: String, host: String, port: Int, pathPrefix: String) {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.pathPrefix = pathPrefix
    }

    public var description: String { serialized }

    /// Stored and served as its serialization.
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        switch Self.parse(try c.decode(String.self)) {
        case .success(let url): self = url
        case .failure(let invalid): throw DecodingError.dataCorruptedError(in: c, debugDescription: invalid.message)
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(serialized)
    }

    public static func parse(_ text: String) -> Result<UpstreamURL, InvalidValue> {
        guard let sep = text.firstRange(of: "://") else { return .failure(InvalidValue("must be an http:// or https:// URL such as http://omero-web.internal:4080")) }
        let scheme = text[..<sep.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else { return .failure(InvalidValue("the scheme must be http or https")) }
        let rest = text[sep.upperBound...]
        if rest.contains("?") || rest.contains("#") { return .failure(InvalidValue("must not have a query or fragment")) }
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var path = String(rest[authorityEnd...])
        if authority.contains("@") { return .failure(InvalidValue("must not contain credentials (user:password@)")) }
        let origin: Origin
        do { origin = try Origin(parsing: "\(scheme)://\(authority)", lenient: false) } catch {
            return .failure(InvalidValue("the host part \(error.description)"))
        }
        while path.hasSuffix("/") { path.removeLast() }
        let segmentChars = /[A-Za-z0-9._~!$&'()*+,;=:@%-]+/
        for segment in path.split(separator: "/", omittingEmptySubsequences: false).dropFirst() {
            if segment.isEmpty || segment == "." || segment == ".." || segment.wholeMatch(of: segmentChars) == nil {
                return .failure(InvalidValue("the path prefix must be plain segments such as /omero"))
            }
        }
        var host = origin.host
        if host.hasPrefix("[") { host = String(host.dropFirst().dropLast()) }
        return .success(UpstreamURL(scheme: scheme, host: host, port: origin.port ?? (scheme == "https" ? 443 : 80), pathPrefix: path))
    }
}

/// Why a value is invalid, in a sentence.
public struct InvalidValue: Error, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// limits.conf(5) domains: a user, `@group`, `*`, `<min_uid>:<max_uid>`, `@<min_gid>:<max_gid>`,
/// and for `maxlogins` only `%`, `%group` or `%:<gid>`. ASCII only.
public enum LimitsDomain {
    public static let rule = "must be a user name, @group, *, a uid range min:max or a gid range @min:max (and for maxlogins only: %, %group or %:gid)"

    public static func isValid(_ domain: String, item: String? = nil) -> Bool {
        let b = Array(domain.utf8)
        if b == [0x2A] { return true }
        var body = b[...]
        if body.first == 0x25 {
            // `%` forms are pam_limits' maxlogins-only domains.
            guard item == nil || item == "maxlogins" else { return false }
            body = body.dropFirst()
            if body.isEmpty { return true }
            if body.first == 0x3A { return body.count > 1 && body.count <= 11 && body.dropFirst().allSatisfy(isDigit) }
            return isName(body)
        }
        if body.first == 0x40 { body = body.dropFirst() }
        if let colon = body.firstIndex(of: 0x3A) {
            let lo = body[..<colon], hi = body[(colon + 1)...]
            guard lo.count <= 10, hi.count <= 10, lo.allSatisfy(isDigit), hi.allSatisfy(isDigit), !(lo.isEmpty && hi.isEmpty) else { return false }
            if let l = UInt64(String(decoding: lo, as: UTF8.self)), let h = UInt64(String(decoding: hi, as: UTF8.self)), l > h { return false }
            return true
        }
        return isName(body)
    }

    /// A user (or group) name: `[A-Za-z_][A-Za-z0-9._-]{0,31}` with an optional final `$`.
    public static func isName<C: Collection>(_ b: C) -> Bool where C.Element == UInt8 {
        var bytes = Array(b)
        if bytes.last == 0x24 { bytes.removeLast() }
        guard let first = bytes.first, bytes.count <= 32, isLetter(first) || first == 0x5F else { return false }
        return bytes.allSatisfy { isLetter($0) || isDigit($0) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }
    }

    private static func isDigit(_ b: UInt8) -> Bool { (0x30...0x39).contains(b) }
    private static func isLetter(_ b: UInt8) -> Bool { (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b) }
}

/// systemd unit names (systemd.unit(5)) for the unit types that take `LimitNOFILE=`.
public enum SystemdUnitName {
    public static let rule = "must be a systemd unit name such as omero-web.service: letters, digits, ':', '-', '_', '.', '\\' and at most one '@', at most 255 characters"

    /// The unit types whose units take `LimitNOFILE=`, and the section it goes in.
    public static let sections = ["service": "Service", "socket": "Socket", "mount": "Mount", "swap": "Swap"]

    public static func isValid(_ name: String) -> Bool {
        guard name.utf8.count <= 255, name.filter({ $0 == "@" }).count <= 1 else { return false }
        return name.wholeMatch(of: /[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\-]*)?\.[a-z]+/) != nil && name.unicodeScalars.allSatisfy(\.isASCII)
    }

    /// `[Service]` for `x.service` …, nil for a unit type that takes no `LimitNOFILE=`.
    public static func section(of name: String) -> String? {
        guard let dot = name.lastIndex(of: ".") else { return nil }
        return sections[String(name[name.index(after: dot)...])]
    }
}

/// An RFC 3986 authority without userinfo: `host[:port]`, the host a DNS name, an IPv4
/// address or a bracketed IPv6 address. Used for `public_host` and for the `Host` a client sends.
public enum Authority {
    public static func isValid<S: StringProtocol>(_ text: S) -> Bool {
        text.utf8.withContiguousStorageIfAvailable { isValid(bytes: $0) } ?? isValid(bytes: Array(text.utf8))
    }

    private static func isValid<C: RandomAccessCollection<UInt8>>(bytes b: C) -> Bool where C.Index == Int {
        guard !b.isEmpty, b.count <= 262 else { return false }
        var hostEnd = b.count
        var i = 0
        if b[0] == 0x5B {
            guard let close = b.firstIndex(of: 0x5D), close > 1 else { return false }
            guard b[1..<close].allSatisfy({ $0.isHexDigitByte || $0 == 0x3A || $0 == 0x2E }), b[1..<close].contains(0x3A) else { return false }
            hostEnd = close + 1
            i = hostEnd
        } else {
            if let colon = b.firstIndex(of: 0x3A) { hostEnd = colon }
            let host = b[..<hostEnd]
            guard !host.isEmpty, host.count <= 253 else { return false }
            // Labels of 1–63 letters, digits, '-' or '_', not starting or ending with '-'.
            var labelLength = 0
            var previous: UInt8 = 0x2E
            for byte in host {
                if byte == 0x2E {
                    guard labelLength > 0, previous != 0x2D else { return false }
                    labelLength = 0
                } else {
                    guard byte.isAlnumByte || byte == 0x2D || byte == 0x5F, labelLength > 0 || byte != 0x2D, labelLength < 63 else { return false }
                    labelLength += 1
                }
                previous = byte
            }
            guard labelLength > 0, previous != 0x2D else { return false }
            i = hostEnd
        }
        guard i < b.count else { return true }
        guard b[i] == 0x3A else { return false }
        let port = b[(i + 1)...]
        guard !port.isEmpty, port.count <= 5, port.allSatisfy({ (0x30...0x39).contains($0) }) else { return false }
        let value = port.reduce(0) { $0 * 10 + Int($1 - 0x30) }
        return (1...65535).contains(value)
    }
}

extension UInt8 {
    var isHexDigitByte: Bool { (0x30...0x39).contains(self) || (0x41...0x46).contains(self) || (0x61...0x66).contains(self) }
    var isAlnumByte: Bool { (0x30...0x39).contains(self) || (0x41...0x5A).contains(self) || (0x61...0x7A).contains(self) }
}

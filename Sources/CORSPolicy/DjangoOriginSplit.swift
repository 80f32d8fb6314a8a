/// How django-cors-headers reads an `Origin` value, for `compatible` mode: Python's
/// `urllib.parse.urlsplit` (as of CPython 3.11) reduced to what the middleware uses, the
/// scheme and the netloc. django-cors-headers allows a listed origin when both are equal
/// (`_url_in_whitelist`), and sends no CORS headers at all when `urlsplit` raises.
///
/// So, as on a real host, `https://viewer.example.org/path` is the listed
/// `https://viewer.example.org`, and when `null` is listed every value without `//` (`foo`)
/// splits to the same empty scheme and netloc as `null` and is allowed too.
public struct DjangoOriginSplit: Hashable, Sendable {
    public var scheme: String
    public var netloc: String

    /// nil where `urlsplit` raises `ValueError` (a bracket without its pair, a bracketed
    /// host that is not an IPv6 address or IPvFuture). Callers pass ASCII text only: Python
    /// also refuses some non-ASCII netlocs, which corsd never allows anyway.
    public init?(_ text: String) {
        // lstrip C0 controls and space; drop tab, CR and LF anywhere.
        var bytes = Array(text.utf8.drop { $0 <= 0x20 })
        bytes.removeAll { $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
        var rest = bytes[...]
        var scheme: [UInt8] = []
        if let colon = bytes.firstIndex(of: 0x3A), colon > 0, let first = bytes.first, Self.isAlpha(first),
           bytes[..<colon].allSatisfy({ Self.isAlpha($0) || (0x30...0x39).contains($0) || $0 == 0x2B || $0 == 0x2D || $0 == 0x2E }) {
            scheme = bytes[..<colon].map { (0x41...0x5A).contains($0) ? $0 + 0x20 : $0 }
            rest = bytes[(colon + 1)...]
        }
        var netloc: ArraySlice<UInt8> = []
        if rest.starts(with: [0x2F, 0x2F]) {
            let afterSlashes = rest.dropFirst(2)
            netloc = afterSlashes.prefix { $0 != 0x2F && $0 != 0x3F && $0 != 0x23 }
            let open = netloc.firstIndex(of: 0x5B), close = netloc.firstIndex(of: 0x5D)
            if (open == nil) != (close == nil) { return nil }
            if let open {
                let inner = netloc[(open + 1)...].prefix { $0 != 0x5D }
                guard Self.isBracketedHost(String(decoding: inner, as: UTF8.self)) else { return nil }
            }
        }
        self.scheme = String(decoding: scheme, as: UTF8.self)
        self.netloc = String(decoding: netloc, as: UTF8.self)
    }

    private static func isAlpha(_ b: UInt8) -> Bool { (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b) }

    /// `_check_bracketed_host`: IPvFuture (`v1.x`) or an IPv6 address (`ipaddress`), never IPv4.
    static func isBracketedHost(_ host: String) -> Bool {
        if host.hasPrefix("v") {
            // \Av[a-fA-F0-9]+\..+\Z
            let b = Array(host.utf8)
            var i = 1
            while i < b.count, b[i].isHexDigit { i += 1 }
            return i > 1 && i < b.count - 1 && b[i] == 0x2E && !b[(i + 1)...].contains(0x0A)
        }
        if isIPv4(Substring(host)) { return false }
        return isIPv6(host)
    }

    /// `ipaddress.IPv4Address`: four decimal octets ≤ 255, no leading zeros.
    static func isIPv4(_ s: Substring) -> Bool {
        let octets = s.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4 else { return false }
        return octets.allSatisfy { o in
            !o.isEmpty && o.count <= 3 && o.utf8.allSatisfy { (0x30...0x39).contains($0) }
                && !(o.count > 1 && o.first == "0") && (Int(o) ?? 256) <= 255
        }
    }

    /// `ipaddress.IPv6Address`, with its optional `%scope`.
    static func isIPv6(_ s: String) -> Bool {
        var address = Substring(s)
        if let percent = s.firstIndex(of: "%") {
            let scope = s[s.index(after: percent)...]
            if scope.isEmpty || scope.contains("%") { return false }
            address = s[..<percent]
        }
        var parts = address.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 3 else { return false }
        if let last = parts.last, last.contains(".") {
            guard isIPv4(Substring(last)) else { return false }
            parts.removeLast()
            parts += ["0", "0"]  // two hextets; their values do not matter here
        }
        guard parts.count <= 9 else { return false }
        var skip: Int?
        for i in 1..<(parts.count - 1) where parts[i].isEmpty {
            if skip != nil { return false }
            skip = i
        }
        var checked: ArraySlice<String>
        if let skip {
            var hi = skip, lo = parts.count - skip - 1
            if parts.first?.isEmpty == true { hi -= 1; if hi != 0 { return false } }
            if parts.last?.isEmpty == true { lo -= 1; if lo != 0 { return false } }
            if 8 - (hi + lo) < 1 { return false }
            checked = parts[..<hi] + parts[(parts.count - lo)...]
        } else {
            guard parts.count == 8, parts.first?.isEmpty == false, parts.last?.isEmpty == false else { return false }
            checked = parts[...]
        }
        return checked.allSatisfy { !$0.isEmpty && $0.utf8.count <= 4 && $0.utf8.allSatisfy(\.isHexDigit) }
    }
}

extension UInt8 {
    var isHexDigit: Bool { (0x30...0x39).contains(self) || (0x41...0x46).contains(self) || (0x61...0x66).contains(self) }
}

/// A serialised origin (WHATWG Fetch/HTML): `scheme://host[:port]`, lower-case, default port
/// omitted, no trailing slash; or the opaque origin `null`.
///
/// `Origin(parsing:)` is used both for stored policy (where it normalises what an operator
/// typed: case, default ports, a trailing slash, IDN host names to punycode) and for the
/// `Origin` request header (where an unparsable value is treated as absent).
public struct Origin: Hashable, Sendable, CustomStringConvertible, Codable {
    /// The serialised form, e.g. `https://viewer.example.org:8443` or `null`.
    public let serialized: String
    public let scheme: String
    public let host: String
    /// nil for the default port of the scheme (or `null`).
    public let port: Int?

    public static let null = Origin(serialized: "null", scheme: "", host: "", port: nil)
    /// What some browsers send from `file:` pages; listed as the literal `file://`.
    public static let file = Origin(serialized: "file://", scheme: "file", host: "", port: nil)

    /// Longer `Origin` values are never allowed (no browser sends one; matching stays cheap).
    public static let maxLength = 2048

    private init(serialized: String, scheme: String, host: String, port: Int?) {
        self.serialized = serialized
        self.scheme = scheme
        self.host = host
        self.port = port
    }

    public var isNull: Bool { serialized == "null" }
    public var description: String { serialized }

    public static let defaultPorts = ["http": 80, "https": 443, "ws": 80, "wss": 443]

    /// Why a string is not an origin.
    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case missingScheme
        case invalidScheme
        case missingHost
        case invalidHost
        case invalidPort
        case hasCredentials
        case hasPathQueryOrFragment

        public var description: String {
            switch self {
            case .missingScheme: return "must start with a scheme, as in https://host[:port]"
            case .invalidScheme: return "the scheme must be letters, digits, '+', '-' or '.', starting with a letter"
            case .missingHost: return "has no host"
            case .invalidHost: return "the host is not a valid DNS name, IPv4 address or [IPv6] address"
            case .invalidPort: return "the port must be a number from 1 to 65535"
            case .hasCredentials: return "must not contain user:password@"
            case .hasPathQueryOrFragment: return "must not have a path, query or fragment (an origin is scheme://host[:port])"
            }
        }
    }

    /// Parses and normalises. `lenient` also accepts one trailing `/` (what people paste).
    public init(parsing text: String, lenient: Bool = true) throws(ParseError) {
        if text == "null" {
            self = .null
            return
        }
        guard let sep = text.firstRange(of: "://") else { throw .missingScheme }
        let scheme = text[..<sep.lowerBound].lowercased()
        guard let first = scheme.unicodeScalars.first, ("a"..."z").contains(first),
              scheme.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || "+-.".unicodeScalars.contains($0) })
        else { throw .invalidScheme }
        var rest = text[sep.upperBound...]
        if lenient && rest.hasSuffix("/") { rest = rest.dropLast() }
        if scheme == "file" && rest.isEmpty {
            // django-cors-headers accepts the literal `file://` as an allowed origin.
            self = .file
            return
        }
        if rest.contains(where: { "/?#\\".contains($0) }) { throw .hasPathQueryOrFragment }
        if rest.contains("@") { throw .hasCredentials }
        guard !rest.isEmpty else { throw .missingHost }

        var hostPart: Substring
        var portPart: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw .invalidHost }
            hostPart = rest[...close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw .invalidHost }
                portPart = after.dropFirst()
            }
        } else if let colon = rest.lastIndex(of: ":") {
            hostPart = rest[..<colon]
            portPart = rest[rest.index(after: colon)...]
        } else {
            hostPart = rest
        }
        let host = try Self.normalizeHost(hostPart)
        var port: Int?
        if let portPart {
            guard !portPart.isEmpty, portPart.count <= 5, portPart.allSatisfy(\.isASCIIDigit),
                  let p = Int(portPart), (1...65535).contains(p)
            else { throw .invalidPort }
            port = Self.defaultPorts[scheme] == p ? nil : p
        }
        self.scheme = scheme
        self.host = host
        self.port = port
        self.serialized = "\(scheme)://\(host)" + (port.map { ":\($0)" } ?? "")
    }

    /// Lower-cases, converts IDN labels to punycode and checks the host's characters.
    static func normalizeHost(_ raw: Substring) throws(ParseError) -> String {
        guard !raw.isEmpty else { throw .missingHost }
        if raw.hasPrefix("[") {
            let inner = raw.dropFirst().dropLast()
            guard raw.hasSuffix("]"), !inner.isEmpty, inner.contains(":"),
                  inner.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." })
            else { throw .invalidHost }
            return "[" + inner.lowercased() + "]"
        }
        var labels: [String] = []
        for label in raw.lowercased().split(separator: ".", omittingEmptySubsequences: false) {
            // A label of more than 63 scalars never encodes to 63 bytes or fewer: refused before
            // the encoder (quadratic in the label) runs, so the cost stays linear in the host.
            guard !label.isEmpty, label.unicodeScalars.count <= 63, let ascii = Punycode.encodeLabel(String(label)), ascii.count <= 63,
                  ascii.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" }),
                  !ascii.hasPrefix("-"), !ascii.hasSuffix("-")
            else { throw .invalidHost }
            labels.append(ascii)
        }
        let host = labels.joined(separator: ".")
        guard host.count <= 253 else { throw .invalidHost }
        return host
    }

    // Codable as the serialised string.
    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { self = try Origin(parsing: text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(serialized)
    }
}

extension Character {
    public var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

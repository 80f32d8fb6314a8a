/// One limits.conf(5) line: `<domain> <type> <item> <value>`.
public struct LimitEntry: Codable, Sendable, Equatable, Hashable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case soft, hard
        /// Both soft and hard.
        case both = "-"
    }

    public enum Value: Sendable, Equatable, Hashable, Codable, CustomStringConvertible, Comparable {
        case number(Int)
        case unlimited

        public var description: String {
            switch self {
            case .number(let n): return String(n)
            case .unlimited: return "unlimited"
            }
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let n = try? c.decode(Int.self) { self = .number(n) } else {
                let s = try c.decode(String.self)
                guard s == "unlimited" else { throw DecodingError.dataCorruptedError(in: c, debugDescription: "expected an integer or \"unlimited\"") }
                self = .unlimited
            }
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .number(let n): try c.encode(n)
            case .unlimited: try c.encode("unlimited")
            }
        }

        public static func < (a: Value, b: Value) -> Bool {
            switch (a, b) {
            case (.number(let x), .number(let y)): return x < y
            case (.number, .unlimited): return true
            default: return false
            }
        }
    }

    /// The resource items Debian 12's pam_limits (1.5.2) accepts (limits.conf(5)); it has no
    /// `rttime`. Its `chroot` item takes a directory, not a limit, and is not managed here.
    public static let items: Set<String> = [
        "core", "data", "fsize", "memlock", "nofile", "rss", "stack", "cpu", "nproc", "as", "maxlogins",
        "maxsyslogins", "nonewprivs", "priority", "locks", "sigpending", "msgqueue", "nice", "rtprio",
    ]

    /// Items whose value is a number in a fixed range and never unlimited.
    public static let boundedItems: [String: ClosedRange<Int>] = ["nice": -20...19, "priority": -20...19, "nonewprivs": 0...1]

    /// The lowest nofile corsd renders: below the usual default, OMERO.web runs out of descriptors.
    public static let minimumNofile = 1024

    /// fs.nr_open's default: the kernel refuses a nofile hard limit above it.
    public static let nrOpenDefault = 1_048_576

    enum CodingKeys: String, CodingKey, CaseIterable {
        case domain, type, item, value
    }

    public var domain: String
    public var type: Kind
    public var item: String
    public var value: Value

    public init(domain: String, type: Kind, item: String, value: Value) {
        self.domain = domain
        self.type = type
        self.item = item
        self.value = value
    }

    /// The seed's fix, for the user OME's packaging runs OMERO.web as:
    /// `omero-web soft nofile 65535` and `omero-web hard nofile 65535`.
    public static let defaults = [
        LimitEntry(domain: "omero-web", type: .soft, item: "nofile", value: .number(65535)),
        LimitEntry(domain: "omero-web", type: .hard, item: "nofile", value: .number(65535)),
    ]
}

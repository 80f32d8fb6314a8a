/// An allowed-origin pattern: a `scheme://*.domain[:port]` wildcard or a regular expression.
///
/// **Matching differs from django-cors-headers on purpose.** django uses Python's `re.match`,
/// which anchors only at the start, so `https://.*\.example\.org` there also allows
/// `https://a.example.org.evil.com`. corsd matches regexes against the *whole* serialised
/// origin; the settings.py renderer emits `^(?:…)\Z` so both behave the same on the host.
public struct OriginPattern: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// `*.` stands for one or more labels; never the bare domain.
        case wildcard(scheme: String, suffix: String, port: Int?)
        case regex
    }

    /// What the operator wrote (normalised for wildcards).
    public let source: String
    public let kind: Kind
    private let regex: CompiledRegex?

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case empty
        case invalidWildcard(String)
        case invalidRegex(String)

        public var description: String {
            switch self {
            case .empty: return "must not be empty"
            case .invalidWildcard(let why): return "invalid wildcard origin: \(why)"
            case .invalidRegex(let why): return "invalid regular expression: \(why)"
            }
        }
    }

    /// A string containing `://*.` is a wildcard; anything else is a regex.
    public init(parsing text: String) throws(ParseError) {
        guard !text.isEmpty else { throw .empty }
        if let star = text.firstRange(of: "://*.") {
            let scheme = String(text[..<star.lowerBound])
            let probe: Origin
            do throws(Origin.ParseError) {
                // Validate the rest as an origin whose host is the suffix.
                probe = try Origin(parsing: scheme + "://" + text[star.upperBound...], lenient: false)
            } catch {
                throw .invalidWildcard(error.description)
            }
            if probe.host.hasPrefix("[") { throw .invalidWildcard("the domain after *. must be a DNS name") }
            kind = .wildcard(scheme: probe.scheme, suffix: probe.host, port: probe.port)
            source = "\(probe.scheme)://*.\(probe.host)" + (probe.port.map { ":\($0)" } ?? "")
            regex = nil
        } else {
            do {
                regex = try CompiledRegex(text)
            } catch {
                throw .invalidRegex("\(error)")
            }
            kind = .regex
            source = text
        }
    }

    public func matches(_ origin: Origin) -> Bool {
        switch kind {
        case .wildcard(let scheme, let suffix, let port):
            return origin.scheme == scheme && origin.port == port
                && origin.host.count > suffix.count + 1 && origin.host.hasSuffix("." + suffix)
        case .regex:
            return regex!.wholeMatches(origin.serialized)
        }
    }

    /// Matches an origin given as its exact serialisation, without parsing it: for a wildcard
    /// the text must be `scheme://label(.label)*.suffix[:port]` with plain DNS labels; a regex
    /// is matched against the whole text. Callers must only pass canonical serialisations
    /// (for regexes; a wildcard's own check admits nothing else).
    public func matches(serialized text: String) -> Bool {
        switch kind {
        case .wildcard(let scheme, let suffix, let port):
            let head = scheme + "://"
            let tail = "." + suffix + (port.map { ":\($0)" } ?? "")
            guard text.utf8.count > head.utf8.count + tail.utf8.count, text.hasPrefix(head), text.hasSuffix(tail) else { return false }
            let labels = text.utf8.dropFirst(head.utf8.count).dropLast(tail.utf8.count)
            var previous: UInt8 = 0x2E  // a label may not start right after a dot or the start
            for b in labels {
                switch b {
                case 0x61...0x7A, 0x30...0x39, 0x5F: break
                case 0x2D: if previous == 0x2E { return false }
                case 0x2E: if previous == 0x2E || previous == 0x2D { return false }
                default: return false
                }
                previous = b
            }
            return previous != 0x2D && previous != 0x2E
        case .regex:
            return regex!.wholeMatches(text)
        }
    }

    public var description: String { source }

    public static func == (a: OriginPattern, b: OriginPattern) -> Bool { a.source == b.source }
    public func hash(into h: inout Hasher) { h.combine(source) }
}

/// A compiled Swift `Regex`, wrapped because `Regex<AnyRegexOutput>` is not `Sendable`; it is
/// immutable once compiled, so sharing it across threads is safe.
struct CompiledRegex: @unchecked Sendable {
    private let regex: Regex<AnyRegexOutput>

    init(_ pattern: String) throws {
        regex = try Regex(pattern)
    }

    func wholeMatches(_ text: String) -> Bool {
        (try? regex.wholeMatch(in: text)) != nil
    }
}

extension OriginPattern: Codable {
    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { self = try OriginPattern(parsing: text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(source)
    }
}


/// An allowed-origin pattern: a `scheme://*.domain[:port]` wildcard or an `SubsetRegex`.
///
/// Both kinds are one mechanism: a wildcard is turned into an `SubsetRegex` (scheme and domain
/// escaped), so corsd's matcher and Python's `re` on the host read every pattern the same way.
///
/// **Matching differs from django-cors-headers on purpose.** django uses Python's `re.match`,
/// which anchors only at the start, so `https://.*\.example\.org` there also allows
/// `https://a.example.org.evil.com`. corsd matches the *whole* origin, and renders every
/// pattern as `(?a)^(?:…)\Z` so the host does the same.
public struct OriginPattern: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// `*.` stands for one or more labels; never the bare domain.
        case wildcard
        case regex
    }

    /// What the operator wrote (normalised for wildcards).
    public let source: String
    public let kind: Kind
    /// What is matched, here and (rendered) on the host.
    public let regex: SubsetRegex

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case empty
        case invalidWildcard(String)
        case invalidRegex(SubsetRegex.ParseError)

        public var description: String {
            switch self {
            case .empty: return "must not be empty"
            case .invalidWildcard(let why): return "invalid wildcard origin: \(why)"
            case .invalidRegex(let error): return "not in corsd's origin-pattern language: \(error)"
            }
        }
    }

    /// A string containing `://*.` is a wildcard; anything else is an `SubsetRegex`.
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
            if probe.host.hasPrefix("[") || probe.host.isEmpty { throw .invalidWildcard("the domain after *. must be a DNS name") }
            let port = probe.port.map { ":\($0)" } ?? ""
            source = "\(probe.scheme)://*.\(probe.host)\(port)"
            kind = .wildcard
            // One or more labels: starts with a label character, ends with the dot before the suffix.
            let regexText = SubsetRegex.escaped(probe.scheme + "://") + "[a-z0-9_-][a-z0-9_.-]*" + SubsetRegex.escaped("." + probe.host + port)
            do { regex = try SubsetRegex(regexText) } catch { throw .invalidWildcard(error.description) }
        } else {
            do { regex = try SubsetRegex(text) } catch { throw .invalidRegex(error) }
            kind = .regex
            source = text
        }
    }

    /// Whether the pattern matches the whole text of an origin, as sent.
    public func matches(serialized text: String) -> Bool { regex.wholeMatches(text) }

    public func matches(_ origin: Origin) -> Bool { regex.wholeMatches(origin.serialized) }

    public var description: String { source }

    public static func == (a: OriginPattern, b: OriginPattern) -> Bool { a.source == b.source }
    public func hash(into h: inout Hasher) { h.combine(source) }
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

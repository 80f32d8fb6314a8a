import CorsdBase

/// Entity-tag preconditions (RFC 9110 §13.1): `If-None-Match` with weak comparison and
/// `If-Match` with strong comparison, each `*` or a list of entity-tags.
public enum EntityTag {
    /// Whether an `If-None-Match` value names `etag` (weak comparison) or is `*`.
    public static func ifNoneMatch(_ header: String?, matches etag: String) -> Bool {
        guard let header else { return false }
        let target = weak(Substring(etag))
        return header.split(separator: ",").contains { item in
            let tag = item.trimmingOWS()
            return tag == "*" || weak(tag) == target
        }
    }

    private static func weak(_ tag: Substring) -> Substring { tag.hasPrefix("W/") ? tag.dropFirst(2) : tag }

    /// A parsed `If-Match` or `If-None-Match` list.
    public enum Condition: Sendable, Equatable {
        /// `*`: the resource must exist.
        case any
        /// The strong tags listed, quotes included (weak tags never match and are dropped).
        case tags([String])

        /// nil when the header is absent; a malformed value is a 400 (`entity_tags`) naming `field`.
        public init?(_ header: String?, field: String = "If-Match") throws(Problem) {
            guard let header else { return nil }
            let value = header.trimmingOWS()
            if value == "*" { self = .any; return }
            var tags: [String] = []
            for item in value.split(separator: ",", omittingEmptySubsequences: false) {
                let tag = item.trimmingOWS()
                let opaque = tag.hasPrefix("W/") ? tag.dropFirst(2) : tag
                guard opaque.count >= 2, opaque.first == "\"", opaque.last == "\"",
                      !opaque.dropFirst().dropLast().contains("\"") else {
                    throw Problem.field(field, .entityTags, "must be * or a list of entity-tags such as \"3\"")
                }
                if !tag.hasPrefix("W/") { tags.append(String(tag)) }
            }
            self = .tags(tags)
        }

        /// Whether the list names `current` (strong comparison; nil: the resource does not exist).
        public func matches(_ current: String?) -> Bool {
            guard let current else { return false }
            switch self {
            case .any: return true
            case .tags(let tags): return tags.contains(current)
            }
        }
    }
}

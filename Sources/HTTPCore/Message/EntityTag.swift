/// Entity-tag comparisons for conditional requests (RFC 9110 §13.1).
public enum EntityTag {
    /// Whether an `If-None-Match` value names `etag` (weak comparison) or is `*`.
    public static func ifNoneMatch(_ header: String?, matches etag: String) -> Bool {
        guard let header else { return false }
        let strip: (Substring) -> Substring = { $0.hasPrefix("W/") ? $0.dropFirst(2) : $0 }
        let target = strip(Substring(etag))
        return header.split(separator: ",").contains { item in
            let tag = item.trimmingASCIIWhitespace()
            return tag == "*" || strip(tag) == target
        }
    }
}

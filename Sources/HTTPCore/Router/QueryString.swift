import Foundation

/// `application/x-www-form-urlencoded` query parameters: percent-decoded, `+` as space.
/// A repeated name keeps its first value; a malformed escape makes the value nil.
public struct QueryString: Sendable {
    private var values: [String: String?] = [:]
    public private(set) var names: [String] = []

    public init(_ raw: Substring?) {
        guard let raw, !raw.isEmpty else { return }
        for pair in raw.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let first = parts.first, let name = Self.decode(first), values[name] == nil else { continue }
            names.append(name)
            values[name] = .some(parts.count > 1 ? Self.decode(parts[1]) : "")
        }
    }

    /// The decoded value; nil if absent.
    public subscript(_ name: String) -> String? { values[name] ?? nil }

    /// True when the parameter is present but its escapes are malformed.
    public func isMalformed(_ name: String) -> Bool {
        if case .some(.none) = values[name] { return true }
        return false
    }

    static func decode(_ s: Substring) -> String? {
        String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }
}

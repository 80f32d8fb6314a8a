import CorsdBase

/// `application/x-www-form-urlencoded` query parameters: percent-decoded, `+` as space.
/// A repeated name keeps its first value; a malformed escape makes the value nil.
public struct QueryString: Sendable {
    private var values: [String: String?] = [:]
    public private(set) var names: [String] = []

    public init(_ raw: Substring?) {
        guard let raw, !raw.isEmpty else { return }
        for pair in raw.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let first = parts.first, let name = PercentDecoding.decode(first, plusAsSpace: true), values[name] == nil else { continue }
            names.append(name)
            values[name] = .some(parts.count > 1 ? PercentDecoding.decode(parts[1], plusAsSpace: true) : "")
        }
    }

    /// Refuses parameters other than `known` (400, `unknown_parameter`).
    public func allowOnly(_ known: [String]) throws(Problem) {
        for name in names where !known.contains(name) {
            throw Problem.field(name, .unknownParameter, "is not a known parameter (known: \(known.isEmpty ? "none" : known.joined(separator: ", ")))")
        }
    }

    /// The decoded value; nil if absent. A malformed escape is a 400 (`percent_encoding`).
    public func get(_ name: String) throws(Problem) -> String? {
        switch values[name] {
        case nil: return nil
        case .some(nil): throw Problem.field(name, .percentEncoding, "is not valid percent-encoding")
        case .some(.some(let value)): return value
        }
    }

    /// A `true`/`false` flag, false when absent (400, `boolean`, otherwise).
    public func flag(_ name: String) throws(Problem) -> Bool {
        switch try get(name) {
        case nil, "false"?: return false
        case "true"?: return true
        default: throw Problem.field(name, .boolean, "must be true or false")
        }
    }
}

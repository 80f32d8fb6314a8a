/// What an API token may do. Stored and served as its text: `admin`, `read`, `agent:<deployment>`.
public enum Scope: Sendable, Hashable, Codable, CustomStringConvertible, LosslessStringConvertible {
    /// Everything, including tokens.
    case admin
    /// Every GET of the management API.
    case read
    /// Read one deployment and its renders: what a host's agent needs.
    case agent(String)

    public static let rule = "must be admin, read or agent:<deployment>"

    public init?(_ text: String) {
        switch text {
        case "admin": self = .admin
        case "read": self = .read
        default:
            guard text.hasPrefix("agent:") else { return nil }
            let name = String(text.dropFirst(6))
            guard DeploymentValidator.isValidName(name) else { return nil }
            self = .agent(name)
        }
    }

    public var description: String {
        switch self {
        case .admin: return "admin"
        case .read: return "read"
        case .agent(let d): return "agent:\(d)"
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        let text = try c.decode(String.self)
        guard let scope = Scope(text) else { throw DecodingError.dataCorruptedError(in: c, debugDescription: "'\(text)' \(Scope.rule)") }
        self = scope
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

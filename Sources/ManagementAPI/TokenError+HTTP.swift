import CorsdBase
import HTTPRouting
import PolicyStore

extension TokenError: HTTPResponseError {
    public var problem: Problem {
        switch self {
        case .invalidName: return .field("name", .tokenName, TokenError.nameRule)
        case .invalidScope: return .field("scope", .scope, description)
        case .nameTaken: return Problem(status: .conflict, detail: description)
        case .notFound: return Problem(status: .notFound, detail: description)
        case .expiryNotInFuture: return .field("expires_at", .future, description)
        }
    }
}

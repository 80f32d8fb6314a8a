import HTTPRouting
import HTTPTypes
import PolicyStore

extension StoreError: HTTPResponseError {
    public var problem: Problem {
        switch self {
        case .notFound: return Problem(status: .notFound, detail: description)
        case .alreadyExists: return Problem(status: .conflict, detail: description)
        case .preconditionFailed(let current):
            var fields = HTTPFields()
            fields[.eTag] = current.map(DeploymentETag.of)
            return Problem(status: .preconditionFailed, detail: description, headerFields: fields)
        case .invalid(let failure): return failure.problem
        }
    }
}

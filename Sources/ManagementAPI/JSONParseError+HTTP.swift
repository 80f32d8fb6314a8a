import CorsdBase
import CorsdModel
import HTTPRouting

extension JSONParseError: HTTPResponseError {
    public var problem: Problem {
        .invalid([FieldIssue(field: "", rule: rule, message: description)], detail: "the body is not acceptable JSON: \(description)")
    }
}

import CorsdBase
import CorsdModel
import HTTPCore
import HTTPRouting
import HTTPTypes
import PolicyStore

/// Deployment ETags are their revision numbers, quoted: `"7"`. Revisions continue across
/// delete and re-create, so a tag is never reused for a deployment name.
enum DeploymentETag {
    static func of(revision: Int) -> String { "\"\(revision)\"" }

    static func revision(_ tag: String) -> Int? {
        guard tag.count >= 3, tag.hasPrefix("\""), tag.hasSuffix("\"") else { return nil }
        return Int(tag.dropFirst().dropLast())
    }
}

extension HTTPServerRequest {
    /// The body as strict JSON (see `JSONParser`), after checking its media type.
    func json(accepting types: [String] = ["application/json"]) throws -> JSONValue {
        try requireMediaType(types)
        return try JSONValue.parse(body).get()
    }

    /// The write's precondition (RFC 9110 §13.2.2): `If-Match` (`*` or a list of strong tags)
    /// or, without it, `If-None-Match` (`*`: create only; a list: none of these revisions).
    func precondition() throws(Problem) -> Precondition {
        switch try EntityTag.Condition(head.headerFields[.ifMatch], field: "If-Match") {
        case .any?: return .exists
        case .tags(let tags)?: return .revision(in: tags.compactMap(DeploymentETag.revision))
        case nil: break
        }
        switch try EntityTag.Condition(head.headerFields[.ifNoneMatch], field: "If-None-Match") {
        case .any?: return .absent
        case .tags(let tags)?: return .noneOf(tags.compactMap(DeploymentETag.revision))
        case nil: return .none
        }
    }

    /// `?dry_run=true`: say what would be stored, store nothing.
    func isDryRun(allowing others: [String] = []) throws(Problem) -> Bool {
        let query = QueryString(self.query)
        try query.allowOnly(["dry_run"] + others)
        return try query.flag("dry_run")
    }
}

extension RequestContext {
    /// The `{name}` path parameter: a deployment name, or a 404 (a valid slug is what every
    /// stored name is, so anything else names nothing).
    func deploymentName() throws(Problem) -> String {
        let name = try parameters.require("name")
        guard DeploymentValidator.isValidName(name) else { throw Problem(status: .notFound, detail: "no deployment named '\(name)'") }
        return name
    }
}

import CorsdBase
import HTTPCore
import HTTPTypes

/// An RFC 9457 problem detail (`application/problem+json`). `errors` names each offending
/// field and the rule it broke, so scripts can act on them. Thrown from a route, it is the
/// response; `headerFields` (not part of the body) go with it.
public struct Problem: HTTPResponseError, Codable, Equatable {
    public var type: String
    public var title: String
    public var status: Int
    public var detail: String
    public var errors: [FieldIssue]?
    /// Fields sent with the problem (`WWW-Authenticate`, `ETag`, `Allow`…).
    public var headerFields: HTTPFields = [:]

    public init(status: HTTPResponse.Status, detail: String, errors: [FieldIssue]? = nil, headerFields: HTTPFields = [:], type: String = "about:blank") {
        self.type = type
        self.title = status.reasonPhrase.isEmpty ? MessageSerializer.defaultReason(status.code) : status.reasonPhrase
        self.status = status.code
        self.detail = detail
        self.errors = errors
        self.headerFields = headerFields
    }

    enum CodingKeys: String, CodingKey {
        case type, title, status, detail, errors
    }

    /// A 400 naming every issue.
    public static func invalid(_ issues: [FieldIssue], detail: String? = nil) -> Problem {
        Problem(status: .badRequest, detail: detail ?? issues.first.map { issues.count == 1 ? $0.description : "\($0.description) (and \(issues.count - 1) more)" } ?? "the request is invalid",
                errors: issues)
    }

    /// A 400 for one field.
    public static func field(_ field: String, _ rule: Rule, _ message: String) -> Problem {
        invalid([FieldIssue(field: field, rule: rule, message: message)])
    }

    // HTTPResponseError
    public var problem: Problem { self }

    public var json: [UInt8] { (try? JSONCoding.encoder().encode(self)).map { Array($0) } ?? Array("{}".utf8) }

    /// The body HTTPCore sends when it rejects a request before any route sees it (400, 408,
    /// 413, 414, 431…): install it as `HTTPServerConfiguration.rejection`.
    public static func rejection(_ error: HTTPParseError) -> HTTPServerConfiguration.Rejection {
        let rule: Rule
        switch error.status {
        case .requestTimeout: rule = .requestTimeout
        case .contentTooLarge: rule = .bodyTooLarge
        case .uriTooLong: rule = .targetTooLong
        case .requestHeaderFieldsTooLarge: rule = .headerTooLarge
        default: rule = .httpMessage
        }
        let problem = Problem(status: error.status, detail: error.reason, errors: [FieldIssue(field: "", rule: rule, message: error.reason)])
        return HTTPServerConfiguration.Rejection(contentType: "application/problem+json", body: problem.json)
    }
}

/// An error that knows its HTTP meaning: thrown from a route, it becomes its problem+json
/// response. Store, validation and token errors adopt it, each in its own small file.
public protocol HTTPResponseError: Error, Sendable {
    var problem: Problem { get }
}

extension HTTPResponseError {
    public var response: Response {
        var fields = problem.headerFields
        fields[.contentType] = "application/problem+json"
        return Response(status: .init(code: problem.status), headerFields: fields, body: problem.json)
    }
}

extension FieldIssue: HTTPResponseError {
    public var problem: Problem { .invalid([self]) }
}

extension ValidationFailure: HTTPResponseError {
    public var problem: Problem { .invalid(issues) }
}

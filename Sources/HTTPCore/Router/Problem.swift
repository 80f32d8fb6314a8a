import Foundation
import HTTPTypes

/// An RFC 9457 problem detail (`application/problem+json`). `errors` names each offending
/// field and the rule it broke, so scripts can act on them.
public struct Problem: Error, Sendable, Codable, Equatable {
    public struct FieldError: Sendable, Codable, Equatable {
        public var field: String
        public var rule: String
        public var message: String

        public init(field: String, rule: String, message: String) {
            self.field = field
            self.rule = rule
            self.message = message
        }
    }

    public var type: String
    public var title: String
    public var status: Int
    public var detail: String
    public var errors: [FieldError]?

    public init(status: HTTPResponse.Status, detail: String, errors: [FieldError]? = nil, type: String = "about:blank") {
        self.type = type
        self.title = status.reasonPhrase.isEmpty ? MessageSerializer.defaultReason(status.code) : status.reasonPhrase
        self.status = status.code
        self.detail = detail
        self.errors = errors
    }

    public var json: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(self)) ?? Data("{}".utf8))
    }
}

extension HTTPResponseWriter {
    /// Sends `problem` as `application/problem+json`.
    public func respond(_ problem: Problem, extraFields: HTTPFields = [:]) {
        var fields = extraFields
        fields[.contentType] = "application/problem+json"
        respond(HTTPResponse(status: .init(code: problem.status), headerFields: fields), body: problem.json)
    }
}

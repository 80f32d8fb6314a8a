import CorsdBase
import HTTPCore
import HTTPTypes

/// What a route returns: status, fields and the whole body. The server adds `Content-Length`,
/// `Date` and `Connection`.
public struct Response: Sendable {
    public var status: HTTPResponse.Status
    public var headerFields: HTTPFields
    public var body: [UInt8]

    public init(status: HTTPResponse.Status = .ok, headerFields: HTTPFields = [:], body: [UInt8] = []) {
        self.status = status
        self.headerFields = headerFields
        self.body = body
    }

    /// `value` as `application/json` (corsd's encoder: sorted keys).
    public static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok, headerFields: HTTPFields = [:]) throws -> Response {
        var fields = headerFields
        fields[.contentType] = "application/json"
        return Response(status: status, headerFields: fields, body: Array(try JSONCoding.encoder().encode(value)))
    }

    /// 304 for a conditional GET that names `etag`.
    public static func notModified(etag: String) -> Response {
        var fields = HTTPFields()
        fields[.eTag] = etag
        return Response(status: .notModified, headerFields: fields)
    }

    /// The head as swift-http-types models it.
    public var head: HTTPResponse { HTTPResponse(status: status, headerFields: headerFields) }
}

extension HTTPResponseWriter {
    /// Sends a complete `Response`.
    public func respond(_ response: Response) {
        respond(response.head, body: response.body)
    }

    /// Sends `problem` as `application/problem+json`, with `extraFields`.
    public func respond(_ problem: Problem, extraFields: HTTPFields = [:]) {
        var response = problem.response
        for field in extraFields { response.headerFields.append(field) }
        respond(response)
    }
}

extension HTTPServerRequest {
    /// The media type of `Content-Type`, lower-cased, without parameters ("" if absent).
    public var mediaType: String {
        (head.headerFields[.contentType] ?? "").split(separator: ";").first.map { String($0.trimmingOWS()).lowercased() } ?? ""
    }

    /// Refuses a body whose media type is not one of `accepted` (415, `content_type`).
    public func requireMediaType(_ accepted: [String]) throws(Problem) {
        guard accepted.contains(mediaType) else {
            throw Problem(status: .unsupportedMediaType, detail: "Content-Type must be \(accepted.joined(separator: " or "))",
                          errors: [FieldIssue(field: "Content-Type", rule: .contentType, message: "must be \(accepted.joined(separator: " or "))")])
        }
    }
}

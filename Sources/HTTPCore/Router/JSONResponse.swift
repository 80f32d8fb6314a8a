import Foundation
import HTTPTypes

extension HTTPResponseWriter {
    /// Sends `value` as JSON (sorted keys, so output is stable).
    public func respond<T: Encodable>(json value: T, status: HTTPResponse.Status = .ok, extraFields: HTTPFields = [:]) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            var fields = extraFields
            fields[.contentType] = "application/json"
            respond(HTTPResponse(status: status, headerFields: fields), body: Array(try encoder.encode(value)))
        } catch {
            respond(Problem(status: .internalServerError, detail: "response could not be encoded"))
        }
    }
}

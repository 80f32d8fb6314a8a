import CorsdBase
import Foundation
import CorsdModel
import HTTPCore
import HTTPRouting
import HTTPTypes
import PolicyStore

/// `/tokens`: list, create (the secret is in the answer, once) and revoke. Admin only.
struct TokenRoutes: Sendable {
    let tokens: TokenStore

    enum Keys: String, CodingKey, CaseIterable {
        case name, scope
        case expiresAt = "expires_at"
    }

    func install(on routes: inout APIRoutes) {
        routes.add(.get, "/tokens", .admin) { _, _, _ in try .json(Listing(tokens: try await tokens.list())) }
        routes.add(.post, "/tokens", .admin) { request, _, caller in try await create(request, caller) }
        routes.add(.delete, "/tokens/{id}", .admin) { _, context, caller in
            try await tokens.revoke(id: try context.parameters.require("id"), actor: caller.actor)
            return Response(status: .noContent)
        }
    }

    private struct Listing: Encodable { var tokens: [TokenInfo] }

    private struct Created: Encodable {
        var token: TokenInfo
        var secret: String

        enum CodingKeys: String, CodingKey { case secret }

        func encode(to encoder: Encoder) throws {
            try token.encode(to: encoder)
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(secret, forKey: .secret)
        }
    }

    func create(_ request: HTTPServerRequest, _ caller: Caller) async throws -> Response {
        var body = try InputObject<Keys>(try request.json())
        guard let name = try body.string(.name, required: true), let scope = try body.string(.scope, required: true) else {
            throw Problem.field("name", .required, "is required")
        }
        var expiry: Date?
        if let text = try body.string(.expiresAt, nullable: false) {
            guard let date = Timestamp.parse(text) else { throw Problem.field("expires_at", .rfc3339, "must be an RFC 3339 time such as 2027-01-01T00:00:00Z") }
            expiry = date
        }
        let (token, secret) = try await tokens.create(name: name, scope: scope, actor: caller.actor, expiresAt: expiry)
        return try .json(Created(token: token, secret: secret), status: .created)
    }
}

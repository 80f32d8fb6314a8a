import CorsdBase
import CorsdModel
import HTTPCore
import HTTPRouting
import HTTPTypes
import PolicyStore

/// The authenticated caller of an API route.
struct Caller: Sendable {
    var token: TokenInfo
    /// For revisions and audit: the token's name and the client's address.
    var actor: Actor
}

/// An API route: gets the caller `Auth` established.
typealias APIHandler = @Sendable (HTTPServerRequest, RequestContext, Caller) async throws -> Response

/// What a route needs from the caller's token.
enum Permission: Sendable {
    case admin
    case read
    /// Reading the deployment named by the route's `{name}` (and its renders): `read`, `admin`
    /// or that deployment's `agent:` token.
    case readDeployment
    /// Reporting as a host of the deployment named by `{name}`: `admin` or that deployment's
    /// `agent:` token (a read token cannot write; an agent reports only for its own deployment).
    case reportHost

    func allows(_ scope: Scope, deployment: String?) -> Bool {
        switch (self, scope) {
        case (_, .admin): return true
        case (.read, .read), (.readDeployment, .read): return true
        case (.readDeployment, .agent(let allowed)), (.reportHost, .agent(let allowed)): return deployment == allowed
        default: return false
        }
    }
}

/// Bearer-token authentication and scope checks, around every API route.
struct Auth: Sendable {
    let tokens: TokenStore
    /// mTLS: a verified client certificate is required before the token is even looked at.
    var requireClientCertificate = false

    func wrap(_ permission: Permission, _ handler: @escaping APIHandler) -> Responder {
        { request, context in
            let caller = try authenticate(request)
            guard permission.allows(caller.token.scope, deployment: context.parameters["name"].map(String.init)) else {
                throw Problem(status: .forbidden, detail: "token '\(caller.token.name)' (scope \(caller.token.scope)) may not do this")
            }
            return try await handler(request, context, caller)
        }
    }

    private func authenticate(_ request: HTTPServerRequest) throws(Problem) -> Caller {
        let subject = request.tls?.peerSubject
        if requireClientCertificate && subject == nil {
            throw Problem(status: .unauthorized, detail: "the management API requires a client certificate signed by a CA in --tls-client-ca (mTLS)")
        }
        let header = request.head.headerFields[.authorization] ?? ""
        guard header.utf8.count > 7, header.prefix(7).lowercased() == "bearer " else {
            throw Self.unauthorized("send Authorization: Bearer <token>", challenge: "Bearer realm=\"corsd\"")
        }
        let found: TokenInfo?
        do {
            found = try tokens.authenticate(String(header.dropFirst(7).trimmingOWS()))
        } catch {
            throw Problem(status: .serviceUnavailable, detail: "the token store cannot be read now; retry shortly")
        }
        guard let token = found else {
            throw Self.unauthorized("the token is not valid (unknown, revoked or expired)", challenge: "Bearer realm=\"corsd\", error=\"invalid_token\"")
        }
        // With mTLS the certificate says who is at the keyboard: its subject joins the address.
        let address = request.remoteAddress?.host ?? "unknown"
        return Caller(token: token, actor: Actor(tokenName: token.name, client: subject.map { "\(address) (\($0))" } ?? address))
    }

    private static func unauthorized(_ detail: String, challenge: String) -> Problem {
        var fields = HTTPFields()
        fields[.wwwAuthenticate] = challenge
        return Problem(status: .unauthorized, detail: detail, headerFields: fields)
    }
}

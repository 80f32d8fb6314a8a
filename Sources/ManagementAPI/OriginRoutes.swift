import CorsdBase
import CorsdModel
import HTTPCore
import HTTPRouting
import HTTPTypes
import PolicyStore

/// `/deployments/{name}/origins`: add or remove one allowed origin without sending the whole
/// document. Adding one that is listed (or removing one that is not) changes nothing.
struct OriginRoutes: Sendable {
    let store: PolicyStore

    enum Keys: String, CodingKey, CaseIterable { case origin }

    func install(on routes: inout APIRoutes) {
        routes.add(.post, "/deployments/{name}/origins", .admin) { request, context, caller in try await add(request, context, caller) }
        routes.add(.delete, "/deployments/{name}/origins", .admin) { request, context, caller in try await remove(request, context, caller) }
    }

    func add(_ request: HTTPServerRequest, _ context: RequestContext, _ caller: Caller) async throws -> Response {
        let dryRun = try request.isDryRun()
        let name = try context.deploymentName()
        var body = try InputObject<Keys>(try request.json())
        let origin = try Self.parse(try body.string(.origin, required: true))
        return try await change(name, request, caller, dryRun: dryRun) { d in
            guard !d.cors.allowedOrigins.contains(origin) else { return nil }
            d.cors.allowedOrigins.append(origin)
            return d
        }
    }

    func remove(_ request: HTTPServerRequest, _ context: RequestContext, _ caller: Caller) async throws -> Response {
        let dryRun = try request.isDryRun(allowing: ["origin"])
        let name = try context.deploymentName()
        let origin = try Self.parse(try QueryString(request.query).get("origin"))
        return try await change(name, request, caller, dryRun: dryRun) { d in
            guard let i = d.cors.allowedOrigins.firstIndex(of: origin) else { return nil }
            d.cors.allowedOrigins.remove(at: i)
            return d
        }
    }

    private func change(_ name: String, _ request: HTTPServerRequest, _ caller: Caller, dryRun: Bool,
                        _ edit: @escaping @Sendable (inout Deployment) -> Deployment?) async throws -> Response {
        let result = try await store.modifyExisting(name, request, caller, dryRun: dryRun) { current in
            var d = current
            return edit(&d)
        }
        if dryRun { return try DryRun(result).response() }
        guard let stored = result.stored else { throw StoreError.notFound("deployment '\(name)'") }
        return try DeploymentResource(stored).response()
    }

    private static func parse(_ text: String?) throws(Problem) -> Origin {
        guard let text, !text.isEmpty else { throw Problem.field("origin", .required, "is required") }
        do { return try Origin(parsing: text) } catch {
            throw Problem.field("origin", .origin, "'\(text)' is not an origin: it \(error.description)")
        }
    }
}

import CorsdBase
import CorsdModel
import HTTPCore
import HTTPRouting
import HTTPTypes
import PolicyStore

/// `/deployments` and `/deployments/{name}`: list, create, read, replace, merge-patch, delete.
/// Every write takes `If-Match` and `?dry_run=true`.
struct DeploymentRoutes: Sendable {
    let store: PolicyStore
    let watch: DeploymentWatch

    func install(on routes: inout APIRoutes) {
        routes.add(.get, "/deployments", .read) { request, _, _ in try await list(request) }
        routes.add(.post, "/deployments", .admin) { request, _, caller in try await create(request, caller) }
        routes.add(.get, "/deployments/{name}", .readDeployment) { request, context, _ in try await get(request, context) }
        routes.add(.put, "/deployments/{name}", .admin) { request, context, caller in try await put(request, context, caller) }
        routes.add(.patch, "/deployments/{name}", .admin) { request, context, caller in try await patch(request, context, caller) }
        routes.add(.delete, "/deployments/{name}", .admin) { request, context, caller in try await delete(request, context, caller) }
    }

    private struct Listing: Encodable { var deployments: [DeploymentResource] }

    func list(_ request: HTTPServerRequest) async throws -> Response {
        try QueryString(request.query).allowOnly([])
        return try .json(Listing(deployments: try await store.list().map { DeploymentResource($0) }))
    }

    func create(_ request: HTTPServerRequest, _ caller: Caller) async throws -> Response {
        let dryRun = try request.isDryRun()
        let validated = try DeploymentValidator.validate(try request.json()).get()
        let result = try await store.create(validated.deployment, actor: caller.actor, dryRun: dryRun)
        return try respond(result, warnings: validated.warnings, dryRun: dryRun)
    }

    /// One deployment; with `?wait=` and an `If-None-Match` naming its revision, held until
    /// it changes (edges mirror policies this way) or the wait ends (304).
    func get(_ request: HTTPServerRequest, _ context: RequestContext) async throws -> Response {
        let name = try context.deploymentName()
        let query = QueryString(request.query)
        try query.allowOnly(["wait"])
        return try await watch.respond(name, ifNoneMatch: request.head.headerFields[.ifNoneMatch], waitSeconds: try DeploymentWatch.waitSeconds(query)) { _ in
            let resource = DeploymentResource(try await store.require(name))
            return (resource.etag, try resource.response())
        }
    }

    /// Replaces the whole document (creating it if absent, unless `If-Match` says it must exist).
    func put(_ request: HTTPServerRequest, _ context: RequestContext, _ caller: Caller) async throws -> Response {
        let dryRun = try request.isDryRun()
        let name = try context.parameters.require("name")
        let validated = try DeploymentValidator.validate(try request.json(), pathName: name).get()
        let result = try await store.modify(validated.deployment.name, precondition: try request.precondition(), actor: caller.actor, dryRun: dryRun) { _ in
            validated.deployment
        }
        return try respond(result, warnings: validated.warnings, dryRun: dryRun)
    }

    /// RFC 7396 merge patch of the current document.
    func patch(_ request: HTTPServerRequest, _ context: RequestContext, _ caller: Caller) async throws -> Response {
        let dryRun = try request.isDryRun()
        let name = try context.deploymentName()
        let patch = try request.json(accepting: ["application/merge-patch+json", "application/json"])
        // A non-object merge patch would replace the whole deployment with a non-object.
        guard case .object = patch else { throw Problem.field("", .type, "a merge patch of a deployment must be a JSON object") }
        let result = try await store.modifyExisting(name, request, caller, dryRun: dryRun) { current in
            try DeploymentValidator.validate(try JSONValue(encoding: current).merged(with: patch), pathName: name).get().deployment
        }
        return try respond(result, warnings: nil, dryRun: dryRun)
    }

    func delete(_ request: HTTPServerRequest, _ context: RequestContext, _ caller: Caller) async throws -> Response {
        let dryRun = try request.isDryRun()
        let result = try await store.delete(try context.deploymentName(), precondition: try request.precondition(), actor: caller.actor, dryRun: dryRun)
        return dryRun ? try DryRun(result).response() : Response(status: .noContent)
    }

    /// 201 with `Location` for a creation, 200 otherwise; or the dry run's report.
    private func respond(_ result: Modification, warnings: [FieldIssue]?, dryRun: Bool) throws -> Response {
        if dryRun { return try DryRun(result, warnings: warnings).response() }
        guard let stored = result.stored else { throw StoreError.notFound("deployment") }
        return try DeploymentResource(stored, warnings: result.changed ? warnings : nil).response(status: result.created ? .created : .ok, location: result.created)
    }
}

/// Routes that change one deployment through a transform: origins, restore.
extension PolicyStore {
    /// `modify` for a deployment that must exist.
    func modifyExisting(_ name: String, _ request: HTTPServerRequest, _ caller: Caller, action: RevisionAction = .update, dryRun: Bool,
                        transform: @escaping @Sendable (Deployment) throws -> Deployment?) async throws -> Modification {
        try await modify(name, precondition: try request.precondition(), actor: caller.actor, action: action, mustExist: true, dryRun: dryRun) { current in
            guard let current else { throw StoreError.notFound("deployment '\(name)'") }
            return try transform(current)
        }
    }
}

import CorsdBase
import CorsdModel
import HTTPCore
import HTTPRouting
import HTTPTypes
import PolicyStore
import Rendering

/// `/deployments/{name}/revisions`: the history of a deployment, any snapshot, the diff
/// between two, and restoring one.
struct RevisionRoutes: Sendable {
    let store: PolicyStore

    func install(on routes: inout APIRoutes) {
        routes.add(.get, "/deployments/{name}/revisions", .read) { _, context, _ in try await list(context) }
        routes.add(.get, "/deployments/{name}/revisions/{n}", .read) { _, context, _ in try await get(context) }
        routes.add(.get, "/deployments/{name}/revisions/{n}/diff/{m}", .read) { _, context, _ in try await diff(context) }
        routes.add(.post, "/deployments/{name}/revisions/{n}/restore", .admin) { request, context, caller in try await restore(request, context, caller) }
    }

    private struct Listing: Encodable { var revisions: [RevisionSummary] }

    /// One snapshot: its summary and the deployment as it was.
    private struct Snapshot: Encodable {
        var record: RevisionRecord

        enum CodingKeys: String, CodingKey { case deployment }

        func encode(to encoder: Encoder) throws {
            try record.summary.encode(to: encoder)
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(record.deployment, forKey: .deployment)
        }
    }

    private struct Diff: Encodable {
        var from: Int
        var to: Int
        /// Unified diff of the two documents (pretty-printed JSON, sorted keys).
        var document: String
        var renders: [RenderDiff]
    }

    /// `{n}` as a revision number; revisions are numbered from 1.
    private static func number(_ context: RequestContext, _ parameter: String) throws(Problem) -> Int {
        let n = try context.parameters.require(parameter, as: Int.self)
        guard n >= 1 else { throw Problem(status: .notFound, detail: "revisions are numbered from 1") }
        return n
    }

    func list(_ context: RequestContext) async throws -> Response {
        let name = try context.deploymentName()
        let revisions = try await store.revisions(of: name)
        if revisions.isEmpty { throw StoreError.notFound("deployment '\(name)'") }
        return try .json(Listing(revisions: revisions))
    }

    func get(_ context: RequestContext) async throws -> Response {
        try .json(Snapshot(record: try await store.requireRevision(try Self.number(context, "n"), of: try context.deploymentName())))
    }

    func diff(_ context: RequestContext) async throws -> Response {
        let name = try context.deploymentName()
        let a = try await store.requireRevision(try Self.number(context, "n"), of: name)
        let b = try await store.requireRevision(try Self.number(context, "m"), of: name)
        let text = DeploymentResource.documentText
        return try .json(Diff(
            from: a.revision, to: b.revision,
            document: UnifiedDiff.make(from: try text(a.deployment), to: try text(b.deployment), oldLabel: "revision \(a.revision)", newLabel: "revision \(b.revision)"),
            renders: RenderDiff.between(a.deployment, b.deployment, oldLabel: "revision \(a.revision)", newLabel: "revision \(b.revision)")))
    }

    func restore(_ request: HTTPServerRequest, _ context: RequestContext, _ caller: Caller) async throws -> Response {
        let dryRun = try request.isDryRun()
        let result = try await store.restore(try Self.number(context, "n"), of: try context.deploymentName(),
                                             precondition: try request.precondition(), actor: caller.actor, dryRun: dryRun)
        if dryRun { return try DryRun(result).response() }
        guard let stored = result.stored else { throw StoreError.notFound("deployment") }
        return try DeploymentResource(stored).response()
    }
}

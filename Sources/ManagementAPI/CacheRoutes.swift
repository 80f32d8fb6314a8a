import CorsdBase
import HTTPCore
import HTTPRouting
import HTTPTypes
import Logging
import PolicyStore
import TileProxy

/// The tile cache: its counters, and purging a deployment's entries (all, or one image's).
struct CacheRoutes: Sendable {
    let store: PolicyStore
    let cache: TileCache?
    let logger: Logger

    func install(on routes: inout APIRoutes) {
        routes.add(.get, "/tiles/cache", .read) { _, _, _ in try .json(cache?.counters ?? TileCache.Counters()) }
        routes.add(.delete, "/deployments/{name}/cache", .admin) { request, context, _ in try await purge(request, context) }
    }

    private struct Purged: Encodable { var purged: Int }

    func purge(_ request: HTTPServerRequest, _ context: RequestContext) async throws -> Response {
        let name = try context.deploymentName()
        let query = QueryString(request.query)
        try query.allowOnly(["image"])
        let image = try query.get("image")
        if let image, image.isEmpty || !image.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) {
            throw Problem.field("image", .imageID, "must be an image, slide or dataset id such as 42")
        }
        _ = try await store.require(name)
        let purged = cache?.purge(deployment: name, imageID: image) ?? 0
        logger.info("tile cache purged", metadata: ["deployment": "\(name)", "image": "\(image ?? "*")", "entries": "\(purged)"])
        return try .json(Purged(purged: purged))
    }
}

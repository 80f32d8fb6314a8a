import CorsdBase
import HTTPCore
import HTTPRouting
import HTTPTypes
import PolicyStore

/// `/audit`: every change, oldest first, paged with a cursor.
struct AuditRoutes: Sendable {
    let store: PolicyStore

    func install(on routes: inout APIRoutes) {
        routes.add(.get, "/audit", .read) { request, _, _ in try await list(request) }
    }

    private struct Page: Encodable {
        var items: [AuditEntry]
        var nextAfter: Int64?

        enum CodingKeys: String, CodingKey {
            case items
            case nextAfter = "next_after"
        }

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(items, forKey: .items)
            try c.encode(nextAfter, forKey: .nextAfter)  // null on the last page
        }
    }

    func list(_ request: HTTPServerRequest) async throws -> Response {
        let query = QueryString(request.query)
        try query.allowOnly(["deployment", "since", "limit", "after"])
        var limit = 100
        if let text = try query.get("limit") {
            guard let n = Int(text), (1...1000).contains(n) else { throw Problem.field("limit", .range, "must be an integer from 1 to 1000") }
            limit = n
        }
        var after: Int64?
        if let text = try query.get("after") {
            guard let n = Int64(text), n >= 0 else { throw Problem.field("after", .cursor, "must be the next_after value of a previous page") }
            after = n
        }
        var since: String?
        if let text = try query.get("since") {
            guard let date = Timestamp.parse(text) else { throw Problem.field("since", .rfc3339, "must be an RFC 3339 time such as 2026-11-22T00:00:00Z") }
            since = Timestamp.format(date)
        }
        let items = try await store.audit(deployment: try query.get("deployment"), since: since, after: after, limit: limit + 1)
        let page = Array(items.prefix(limit))
        return try .json(Page(items: page, nextAfter: items.count > limit ? page.last?.id : nil))
    }
}

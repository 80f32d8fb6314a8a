import CorsdModel
import Foundation
import GRDB

/// Who made a change: the token's name and the client's address, for revisions and audit.
public struct Actor: Sendable, Equatable {
    public var tokenName: String
    public var client: String

    public init(tokenName: String, client: String) {
        self.tokenName = tokenName
        self.client = client
    }
}

/// A deployment as stored: the document and its bookkeeping. `revision` is its ETag.
public struct StoredDeployment: Sendable, Equatable {
    public var deployment: Deployment
    public var revision: Int
    public var createdAt: String
    public var updatedAt: String
}

public struct RevisionSummary: Sendable, Equatable, Codable {
    public var revision: Int
    public var action: String
    public var author: String
    public var createdAt: String

    enum CodingKeys: String, CodingKey {
        case revision, action, author
        case createdAt = "created_at"
    }
}

public struct AuditEntry: Sendable, Equatable, Codable {
    public var id: Int64
    public var at: String
    public var tokenName: String
    public var action: String
    public var target: String
    public var revision: Int?
    public var client: String

    enum CodingKeys: String, CodingKey {
        case id, at, action, target, revision, client
        case tokenName = "token_name"
    }
}

/// What `PolicyStore.modify` did.
public struct Modification: Sendable {
    /// The deployment now (nil only if there was none and the transform made none).
    public var stored: StoredDeployment?
    public var changed: Bool
    public var created: Bool
}

public enum StoreError: Error, Equatable, CustomStringConvertible {
    case notFound(String)
    case alreadyExists(String)
    /// `If-Match` named another revision; carries the current one.
    case revisionMismatch(current: Int)
    case invalid(ValidationFailure)

    public var description: String {
        switch self {
        case .notFound(let what): return "\(what) not found"
        case .alreadyExists(let what): return "\(what) already exists"
        case .revisionMismatch(let current): return "the deployment is at revision \(current)"
        case .invalid(let failure): return failure.issues.map(\.description).joined(separator: "; ")
        }
    }
}

/// The policy store: deployments with their revisions and the audit log, in SQLite.
///
/// Every change runs in one write transaction that updates the deployment, appends a full
/// snapshot to `revisions` and a row to `audit`; it is acknowledged only after the commit
/// (with `synchronous=FULL`). Work happens on GRDB's queues, never the caller's.
public final class PolicyStore: Sendable {
    public let pool: DatabasePool
    private let onChange: @Sendable (String, Deployment?) -> Void

    /// - Parameter onChange: called after every committed change with the deployment's name
    ///   and its new value (nil once deleted), before the change is acknowledged: the tile
    ///   proxy updates its in-memory snapshot from it, so the next request sees the change.
    public init(pool: DatabasePool, onChange: @escaping @Sendable (String, Deployment?) -> Void = { _, _ in }) {
        self.pool = pool
        self.onChange = onChange
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    static func encode(_ d: Deployment) throws -> String {
        String(decoding: try encoder.encode(d), as: UTF8.self)
    }

    static func decode(_ text: String) throws -> Deployment {
        try JSONDecoder().decode(Deployment.self, from: Data(text.utf8))
    }

    // MARK: Reading

    public func list() async throws -> [StoredDeployment] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM deployments ORDER BY name").map(Self.stored)
        }
    }

    public func get(_ name: String) async throws -> StoredDeployment? {
        try await pool.read { db in try Self.fetch(db, name) }
    }

    /// One deployment, synchronously (for the CLI).
    public func current(_ name: String) throws -> StoredDeployment? {
        try pool.read { db in try Self.fetch(db, name) }
    }

    /// Every deployment, synchronously (for the start-up snapshot).
    public func all() throws -> [StoredDeployment] {
        try pool.read { db in try Row.fetchAll(db, sql: "SELECT * FROM deployments ORDER BY name").map(Self.stored) }
    }

    private static func fetch(_ db: Database, _ name: String) throws -> StoredDeployment? {
        try Row.fetchOne(db, sql: "SELECT * FROM deployments WHERE name = ?", arguments: [name]).map(stored)
    }

    private static func stored(_ row: Row) throws -> StoredDeployment {
        StoredDeployment(deployment: try decode(row["document"]), revision: row["revision"],
                         createdAt: row["created_at"], updatedAt: row["updated_at"])
    }

    // MARK: Writing

    public func create(_ deployment: Deployment, actor: Actor) async throws -> StoredDeployment {
        let result = try await pool.write { db -> StoredDeployment in
            if try Self.fetch(db, deployment.name) != nil { throw StoreError.alreadyExists("deployment '\(deployment.name)'") }
            return try Self.save(db, deployment, previous: nil, action: "create", actor: actor)
        }
        onChange(deployment.name, deployment)
        return result
    }

    /// Read-modify-write of one deployment in a single transaction. `transform` gets the
    /// current deployment (nil if there is none) and returns the new one, or nil for "no
    /// change" (no revision is written). `ifMatch` guards against lost updates.
    public func modify(_ name: String, ifMatch: Int?, actor: Actor, action: String = "update",
                       transform: @escaping @Sendable (Deployment?) throws -> Deployment?) async throws -> Modification {
        let result = try await pool.write { db -> Modification in
            let current = try Self.fetch(db, name)
            if let ifMatch, current?.revision != ifMatch {
                guard let current else { throw StoreError.notFound("deployment '\(name)'") }
                throw StoreError.revisionMismatch(current: current.revision)
            }
            guard let next = try transform(current?.deployment), next != current?.deployment else {
                return Modification(stored: current, changed: false, created: false)
            }
            let saved = try Self.save(db, next, previous: current, action: current == nil && action == "update" ? "create" : action, actor: actor)
            return Modification(stored: saved, changed: true, created: current == nil)
        }
        if result.changed { onChange(name, result.stored?.deployment) }
        return result
    }

    public func delete(_ name: String, ifMatch: Int?, actor: Actor) async throws {
        try await pool.write { db in
            guard let current = try Self.fetch(db, name) else { throw StoreError.notFound("deployment '\(name)'") }
            if let ifMatch, ifMatch != current.revision { throw StoreError.revisionMismatch(current: current.revision) }
            let revision = try Self.nextRevision(db, name)
            let now = Timestamp.now()
            try db.execute(sql: "DELETE FROM deployments WHERE name = ?", arguments: [name])
            try db.execute(sql: "INSERT INTO revisions (deployment, revision, action, document, author, created_at) VALUES (?, ?, 'delete', ?, ?, ?)",
                           arguments: [name, revision, try Self.encode(current.deployment), actor.tokenName, now])
            try Self.audit(db, actor: actor, action: "deployment.delete", target: "deployment:\(name)", revision: revision, at: now)
        }
        onChange(name, nil)
    }

    private static func nextRevision(_ db: Database, _ name: String) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT COALESCE(MAX(revision), 0) + 1 FROM revisions WHERE deployment = ?", arguments: [name]) ?? 1
    }

    private static func save(_ db: Database, _ d: Deployment, previous: StoredDeployment?, action: String, actor: Actor) throws -> StoredDeployment {
        let revision = try nextRevision(db, d.name)
        let now = Timestamp.now()
        let document = try encode(d)
        let created = previous?.createdAt ?? now
        try db.execute(sql: """
            INSERT INTO deployments (name, revision, document, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (name) DO UPDATE SET revision = excluded.revision, document = excluded.document, updated_at = excluded.updated_at
            """, arguments: [d.name, revision, document, created, now])
        try db.execute(sql: "INSERT INTO revisions (deployment, revision, action, document, author, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                       arguments: [d.name, revision, action, document, actor.tokenName, now])
        try audit(db, actor: actor, action: "deployment.\(action)", target: "deployment:\(d.name)", revision: revision, at: now)
        return StoredDeployment(deployment: d, revision: revision, createdAt: created, updatedAt: now)
    }

    static func audit(_ db: Database, actor: Actor, action: String, target: String, revision: Int?, at: String = Timestamp.now()) throws {
        try db.execute(sql: "INSERT INTO audit (at, token_name, action, target, revision, client) VALUES (?, ?, ?, ?, ?, ?)",
                       arguments: [at, actor.tokenName, action, target, revision, actor.client])
    }

    // MARK: Revisions

    public func revisions(of name: String) async throws -> [RevisionSummary] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT revision, action, author, created_at FROM revisions WHERE deployment = ? ORDER BY revision", arguments: [name])
                .map { RevisionSummary(revision: $0["revision"], action: $0["action"], author: $0["author"], createdAt: $0["created_at"]) }
        }
    }

    /// The snapshot at `revision` (for a `delete` revision: the deployment as it was deleted).
    public func revision(_ revision: Int, of name: String) async throws -> (RevisionSummary, Deployment)? {
        try await pool.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM revisions WHERE deployment = ? AND revision = ?", arguments: [name, revision]) else { return nil }
            return (RevisionSummary(revision: row["revision"], action: row["action"], author: row["author"], createdAt: row["created_at"]),
                    try Self.decode(row["document"]))
        }
    }

    /// Makes the snapshot at `revision` current again, as a new `restore` revision (this also
    /// brings back a deleted deployment). Restoring what is already current changes nothing.
    public func restore(_ revision: Int, of name: String, ifMatch: Int?, actor: Actor) async throws -> StoredDeployment {
        guard let (_, snapshot) = try await self.revision(revision, of: name) else {
            throw StoreError.notFound("revision \(revision) of deployment '\(name)'")
        }
        // Re-validate: the snapshot was valid when written, and rules only ever get added.
        let json = try JSONValue(encoding: snapshot)
        if case .failure(let failure) = DeploymentValidator.validate(json) { throw StoreError.invalid(failure) }
        return try await modify(name, ifMatch: ifMatch, actor: actor, action: "restore") { _ in snapshot }.stored!
    }

    // MARK: Audit

    /// Audit entries oldest first, after the `after` cursor (an entry id), at most `limit`.
    public func audit(deployment: String?, since: String?, after: Int64?, limit: Int) async throws -> [AuditEntry] {
        try await pool.read { db in
            var sql = "SELECT * FROM audit WHERE 1"
            var arguments: StatementArguments = []
            if let deployment { sql += " AND target = ?"; arguments += ["deployment:\(deployment)"] }
            if let since { sql += " AND at >= ?"; arguments += [since] }
            if let after { sql += " AND id > ?"; arguments += [after] }
            sql += " ORDER BY id LIMIT ?"
            arguments += [limit]
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map {
                AuditEntry(id: $0["id"], at: $0["at"], tokenName: $0["token_name"], action: $0["action"],
                           target: $0["target"], revision: $0["revision"], client: $0["client"])
            }
        }
    }
}

import CorsdBase
import CorsdModel
import Foundation
import GRDB

/// What a write requires of the deployment's current state (RFC 9110 preconditions, in terms
/// of revisions: the API's ETags).
public enum Precondition: Sendable, Equatable {
    /// No condition.
    case none
    /// `If-Match: *`: the deployment must exist.
    case exists
    /// `If-None-Match: *`: the deployment must not exist (create only).
    case absent
    /// `If-Match` with a list: the current revision must be one of these (an empty list never
    /// holds: every tag named was foreign).
    case revision(in: [Int])
    /// `If-None-Match` with a list: the current revision (if any) must be none of these.
    case noneOf([Int])

    func holds(for current: Int?) -> Bool {
        switch self {
        case .none: return true
        case .exists: return current != nil
        case .absent: return current == nil
        case .revision(let list): return current.map(list.contains) ?? false
        case .noneOf(let list): return current.map { !list.contains($0) } ?? true
        }
    }
}

/// What `PolicyStore.modify` did, or (dry run) would do.
public struct Modification: Sendable {
    /// The deployment before the change (nil if there was none).
    public var previous: StoredDeployment?
    /// The deployment after (nil only if there was none and the transform made none, or it
    /// was deleted). On a dry run, its revision and times are what the write would give.
    public var stored: StoredDeployment?
    public var changed: Bool
    public var created: Bool { previous == nil && stored != nil }
}

public enum StoreError: Error, Equatable, CustomStringConvertible {
    case notFound(String)
    case alreadyExists(String)
    /// A precondition did not hold; carries the current revision (nil: no deployment).
    case preconditionFailed(current: Int?)
    case invalid(ValidationFailure)

    public var description: String {
        switch self {
        case .notFound(let what): return "\(what) not found"
        case .alreadyExists(let what): return "\(what) already exists"
        case .preconditionFailed(let current?): return "the precondition does not hold: the deployment is at revision \(current)"
        case .preconditionFailed(nil): return "the precondition does not hold: the deployment does not exist"
        case .invalid(let failure): return failure.description
        }
    }
}

/// One committed change, as `PolicyStore`'s `onChange` reports it.
public struct PolicyChange: Sendable {
    public var name: String
    /// nil once deleted.
    public var deployment: Deployment?
    public var revision: Int
    public var action: RevisionAction
    public var actor: Actor
    /// The fields that differ from the previous revision (`cors.allowed_origins`, `limits`…).
    public var changedFields: [String]
}

/// The policy store: deployments with their revisions and the audit log, in SQLite.
///
/// Every change runs in one write transaction that updates the deployment, appends a full
/// snapshot to `revisions` and a row to `audit`; it is acknowledged only after the commit
/// (with `synchronous=FULL`). Revision numbers continue across delete and re-create, so a
/// deployment's ETag is never reused. Work happens on GRDB's queues, never the caller's.
public final class PolicyStore: Sendable {
    private let writer: any DatabaseWriter
    private let onChange: @Sendable (PolicyChange) -> Void

    /// - Parameter onChange: called after every committed change with the deployment's name
    ///   and its new value (nil once deleted), before the change is acknowledged: the tile
    ///   proxy updates its in-memory snapshot from it, so the next request sees the change.
    init(writer: any DatabaseWriter, onChange: @escaping @Sendable (PolicyChange) -> Void) {
        self.writer = writer
        self.onChange = onChange
    }

    // MARK: Reading

    public func list() async throws -> [StoredDeployment] {
        try await writer.read { db in try StoredDeployment.order(StoredDeployment.Columns.name).fetchAll(db) }
    }

    public func get(_ name: String) async throws -> StoredDeployment? {
        try await writer.read { db in try StoredDeployment.fetchOne(db, key: name) }
    }

    /// The deployment, or `StoreError.notFound`.
    public func require(_ name: String) async throws -> StoredDeployment {
        guard let stored = try await get(name) else { throw StoreError.notFound("deployment '\(name)'") }
        return stored
    }

    // MARK: Writing

    public func create(_ deployment: Deployment, actor: Actor, dryRun: Bool = false) async throws -> Modification {
        try await modify(deployment.name, precondition: .none, actor: actor, dryRun: dryRun) { current in
            if current != nil { throw StoreError.alreadyExists("deployment '\(deployment.name)'") }
            return deployment
        }
    }

    /// Read-modify-write of one deployment in a single transaction. `transform` gets the
    /// current deployment (nil if there is none) and returns the new one, or nil for "no
    /// change" (no revision is written). With `dryRun`, nothing is written and the result says
    /// what would have been. With `mustExist`, a missing deployment is `notFound` whatever the
    /// precondition (RFC 9110 §13.2.1: preconditions apply only where the request could succeed).
    public func modify(_ name: String, precondition: Precondition, actor: Actor, action: RevisionAction = .update, mustExist: Bool = false,
                       dryRun: Bool = false, transform: @escaping @Sendable (Deployment?) throws -> Deployment?) async throws -> Modification {
        let plan: @Sendable (Database) throws -> Modification = { db in
            let current = try StoredDeployment.fetchOne(db, key: name)
            if mustExist && current == nil { throw StoreError.notFound("deployment '\(name)'") }
            guard precondition.holds(for: current?.revision) else { throw StoreError.preconditionFailed(current: current?.revision) }
            guard let next = try transform(current?.deployment), next != current?.deployment else {
                return Modification(previous: current, stored: current, changed: false)
            }
            let now = Timestamp.now()
            let stored = StoredDeployment(name: name, revision: try Self.nextRevision(db, name), deployment: next,
                                          createdAt: current?.createdAt ?? now, updatedAt: now)
            return Modification(previous: current, stored: stored, changed: true)
        }
        if dryRun { return try await writer.read(plan) }
        let result = try await writer.write { db -> Modification in
            let result = try plan(db)
            guard result.changed, let stored = result.stored else { return result }
            try stored.save(db)
            let recorded = result.previous == nil && action == .update ? RevisionAction.create : action
            try Self.recordRevision(db, stored, action: recorded, actor: actor)
            return result
        }
        if result.changed, let stored = result.stored {
            let recorded = result.previous == nil && action == .update ? RevisionAction.create : action
            onChange(PolicyChange(name: name, deployment: stored.deployment, revision: stored.revision, action: recorded, actor: actor,
                                  changedFields: stored.deployment.changedFields(from: result.previous?.deployment)))
        }
        return result
    }

    /// Deletes the deployment (its revisions stay, so it can be restored).
    public func delete(_ name: String, precondition: Precondition, actor: Actor, dryRun: Bool = false) async throws -> Modification {
        let plan: @Sendable (Database) throws -> (StoredDeployment, Int) = { db in
            guard let current = try StoredDeployment.fetchOne(db, key: name) else { throw StoreError.notFound("deployment '\(name)'") }
            guard precondition.holds(for: current.revision) else { throw StoreError.preconditionFailed(current: current.revision) }
            return (current, try Self.nextRevision(db, name))
        }
        if dryRun {
            let (current, _) = try await writer.read(plan)
            return Modification(previous: current, stored: nil, changed: true)
        }
        let (current, revision) = try await writer.write { db -> (StoredDeployment, Int) in
            let (current, revision) = try plan(db)
            try current.delete(db)
            var snapshot = current
            snapshot.revision = revision
            snapshot.updatedAt = Timestamp.now()
            try Self.recordRevision(db, snapshot, action: .delete, actor: actor)
            return (current, revision)
        }
        onChange(PolicyChange(name: name, deployment: nil, revision: revision, action: .delete, actor: actor, changedFields: []))
        return Modification(previous: current, stored: nil, changed: true)
    }

    private static func nextRevision(_ db: Database, _ name: String) throws -> Int {
        let last = try RevisionRecord.filter(RevisionRecord.Columns.deploymentName == name)
            .select(max(RevisionRecord.Columns.revision), as: Int.self).fetchOne(db)
        return (last ?? 0) + 1
    }

    private static func recordRevision(_ db: Database, _ stored: StoredDeployment, action: RevisionAction, actor: Actor) throws {
        try RevisionRecord(deploymentName: stored.name, revision: stored.revision, action: action, deployment: stored.deployment,
                           author: actor.tokenName, createdAt: stored.updatedAt).insert(db)
        try AuditEntry.record(db, actor: actor, action: "deployment.\(action.rawValue)", target: "deployment:\(stored.name)",
                              revision: stored.revision, at: stored.updatedAt)
    }

    // MARK: Revisions

    public func revisions(of name: String) async throws -> [RevisionSummary] {
        try await writer.read { db in
            try RevisionSummary.filter(RevisionRecord.Columns.deploymentName == name).order(RevisionRecord.Columns.revision).fetchAll(db)
        }
    }

    /// The snapshot at `revision` (for a `delete` revision: the deployment as it was deleted).
    public func revision(_ revision: Int, of name: String) async throws -> RevisionRecord? {
        try await writer.read { db in
            try RevisionRecord.filter(RevisionRecord.Columns.deploymentName == name && RevisionRecord.Columns.revision == revision).fetchOne(db)
        }
    }

    /// The snapshot at `revision`, or `StoreError.notFound`.
    public func requireRevision(_ revision: Int, of name: String) async throws -> RevisionRecord {
        guard let record = try await self.revision(revision, of: name) else {
            throw StoreError.notFound("revision \(revision) of deployment '\(name)'")
        }
        return record
    }

    /// Makes the snapshot at `revision` current again, as a new `restore` revision (this also
    /// brings back a deleted deployment). Restoring what is already current changes nothing.
    public func restore(_ revision: Int, of name: String, precondition: Precondition, actor: Actor, dryRun: Bool = false) async throws -> Modification {
        let snapshot = try await requireRevision(revision, of: name).deployment
        // Re-validate: the snapshot was valid when written, and rules only ever get added.
        if case .failure(let failure) = DeploymentValidator.validate(try JSONValue(encoding: snapshot)) { throw StoreError.invalid(failure) }
        return try await modify(name, precondition: precondition, actor: actor, action: .restore, dryRun: dryRun) { _ in snapshot }
    }

    // MARK: Audit

    /// Audit entries oldest first, after the `after` cursor (an entry id), at most `limit`.
    public func audit(deployment: String?, since: String?, after: Int64?, limit: Int) async throws -> [AuditEntry] {
        try await writer.read { db in
            var request = AuditEntry.all()
            if let deployment { request = request.filter(AuditEntry.Columns.target == "deployment:\(deployment)") }
            if let since { request = request.filter(AuditEntry.Columns.at >= since) }
            if let after { request = request.filter(AuditEntry.Columns.id > after) }
            return try request.order(AuditEntry.Columns.id).limit(limit).fetchAll(db)
        }
    }
}

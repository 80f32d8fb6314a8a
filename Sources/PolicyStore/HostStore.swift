import CorsdModel
import Foundation
import GRDB

/// What a host said in its last report about a deployment.
public struct HostReport: Sendable, Equatable, Codable {
    public var deployment: String
    public var host: String
    public var lastSeen: String
    /// The deployment revision the applied renders came from.
    public var revision: Int?
    /// Render format → the ETag installed.
    public var applied: [String: String]
    /// `ok`, or `error` with `error` saying what failed (a check, a reload, a download).
    public var result: String
    public var error: String?
    /// The reporting corsd's version.
    public var version: String?

    public init(deployment: String, host: String, lastSeen: String, revision: Int?, applied: [String: String], result: String, error: String?, version: String?) {
        self.deployment = deployment
        self.host = host
        self.lastSeen = lastSeen
        self.revision = revision
        self.applied = applied
        self.result = result
        self.error = error
        self.version = version
    }
}

/// A row of `hosts`.
struct HostRecord: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "hosts"
    var deployment: String
    var host: String
    var lastSeen: String
    var revision: Int?
    var applied: String
    var result: String
    var error: String?
    var version: String?

    enum CodingKeys: String, CodingKey {
        case deployment, host, revision, applied, result, error, version
        case lastSeen = "last_seen"
    }

    init(_ r: HostReport) {
        deployment = r.deployment
        host = r.host
        lastSeen = r.lastSeen
        revision = r.revision
        applied = String(decoding: (try? JSONEncoder().encode(r.applied)) ?? Data("{}".utf8), as: UTF8.self)
        result = r.result
        error = r.error
        version = r.version
    }

    var report: HostReport {
        let map = (try? JSONDecoder().decode([String: String].self, from: Data(applied.utf8))) ?? [:]
        return HostReport(deployment: deployment, host: host, lastSeen: lastSeen, revision: revision, applied: map, result: result, error: error, version: version)
    }
}

/// Host reports: the last word of every host about every deployment it installs.
public final class HostStore: Sendable {
    private let writer: any DatabaseWriter

    init(writer: any DatabaseWriter) {
        self.writer = writer
    }

    /// Replaces the host's report (its time is now); the deployment must exist.
    @discardableResult
    public func report(_ report: HostReport) async throws -> HostReport {
        var stored = report
        stored.lastSeen = Timestamp.now()
        let record = HostRecord(stored)
        try await writer.write { db in
            guard try StoredDeployment.fetchOne(db, key: report.deployment) != nil else { throw StoreError.notFound("deployment '\(report.deployment)'") }
            try record.save(db)
        }
        return stored
    }

    /// The hosts of one deployment, by name.
    public func hosts(of deployment: String) async throws -> [HostReport] {
        try await writer.read { db in
            try HostRecord.filter(Column("deployment") == deployment).order(Column("host")).fetchAll(db).map(\.report)
        }
    }

    /// Every host report not newer than `before`, oldest first.
    public func stale(before: Date) async throws -> [HostReport] {
        let cutoff = Timestamp.format(before)
        return try await writer.read { db in
            try HostRecord.filter(Column("last_seen") <= cutoff).order(Column("last_seen"), Column("deployment"), Column("host")).fetchAll(db).map(\.report)
        }
    }
}

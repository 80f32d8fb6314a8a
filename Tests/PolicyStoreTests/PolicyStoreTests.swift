import CorsdModel
import Foundation
import GRDB
import Testing

@testable import PolicyStore

/// The store over a real SQLite: an in-memory `DatabaseQueue` for behaviour, a file for what
/// only a file has (WAL). Every test starts from an empty, fully migrated database.
@Suite struct PolicyStoreTests {
    let database: AppDatabase
    let store: PolicyStore
    let actor = Actor(tokenName: "tester", client: "127.0.0.1")

    init() throws {
        database = try AppDatabase.inMemory()
        store = database.policies()
    }

    private func deployment(_ name: String = "omero-prod") throws -> Deployment {
        Deployment(name: name, upstream: try UpstreamURL.parse("http://omero.internal:4080").get())
    }

    private func count(_ table: String) throws -> Int {
        try database.writer.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM \(table)") ?? -1 }
    }

    @Test func aFileDatabaseIsWALWithFullSyncAndForeignKeys() throws {
        let file = try AppDatabase.open(path: NSTemporaryDirectory() + "corsd-store-\(UUID().uuidString).sqlite")
        let (journal, synchronous, foreignKeys) = try file.writer.read { db in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode"), try Int.fetchOne(db, sql: "PRAGMA synchronous"), try Int.fetchOne(db, sql: "PRAGMA foreign_keys"))
        }
        #expect(journal == "wal")
        #expect(synchronous == 2)  // FULL
        #expect(foreignKeys == 1)
        #expect(file.applied == embeddedMigrations.map(\.name))
    }

    @Test func embeddedMigrationsMatchTheFilesInMigrations() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("migrations")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(embeddedMigrations.map(\.name) == files, "run scripts/embed-migrations")
        for (name, sql) in embeddedMigrations {
            let text = try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
            #expect(sql == String(text.dropLast(text.hasSuffix("\n") ? 1 : 0)), "\(name): run scripts/embed-migrations")
        }
    }

    @Test func migrationsApplyOnceAndAreRecordedWithChecksums() throws {
        #expect(try AppDatabase.migrate(database.writer, migrations: embeddedMigrations) == [], "already applied")
        #expect(try count("corsd_migrations") == embeddedMigrations.count)
    }

    /// A database written by corsd 0.1 (systemd_units as names, no urls_regex) is carried to
    /// the current shape, current documents and revisions alike, and the units keep the
    /// limits their drop-ins had.
    @Test func migration0002CarriesVersion1DocumentsForward() async throws {
        let old = try DatabaseQueue()
        _ = try AppDatabase(old, migrations: Array(embeddedMigrations.prefix(1)))
        let v1 = #"{"name":"omero-prod","description":"","upstream":"http://o:4080","cors":{"allow_all_origins":false,"allowed_origins":[],"allowed_origin_patterns":[],"allow_methods":["GET"],"allow_headers":["accept"],"expose_headers":[],"allow_credentials":false,"preflight_max_age":86400,"allow_private_network":false,"mode":"reject"},"django":{"cors_headers_version":"3.7.0"},"limits":[{"domain":"@omero","type":"-","item":"nofile","value":4096},{"domain":"omero","type":"soft","item":"nofile","value":65535},{"domain":"omero","type":"hard","item":"nofile","value":65535}],"systemd_units":["omero-web.service","omero-server.service"],"allow_above_nr_open":false}"#
        try await old.write { db in
            try db.execute(sql: "INSERT INTO deployments VALUES ('omero-prod', 1, ?, 't', 't')", arguments: [v1])
            try db.execute(sql: "INSERT INTO revisions VALUES ('omero-prod', 1, 'create', ?, 'a', 't')", arguments: [v1])
        }
        let migrated = try AppDatabase(old)
        #expect(migrated.applied == embeddedMigrations.dropFirst().map(\.name), "every later migration applies")
        let current = try #require(try await migrated.policies().get("omero-prod")).deployment
        #expect(current.systemdUnits == [SystemdUnit(unit: "omero-web.service", user: "omero"), SystemdUnit(unit: "omero-server.service", user: "omero")])
        #expect(current.cors.urlsRegex.source == ".*", "existing deployments keep django-cors-headers' every-path default")
        let revision = try await old.read { try String.fetchOne($0, sql: "SELECT document FROM revisions") ?? "" }
        #expect(revision.contains(#""systemd_units":[{"unit":"omero-web.service","user":"omero"}"#), "\(revision)")
    }

    @Test func aChangedAppliedMigrationStopsStartup() throws {
        var changed = embeddedMigrations
        changed[0].sql += "\n-- edited"
        #expect {
            try AppDatabase.migrate(database.writer, migrations: changed)
        } throws: { error in
            guard case AppDatabase.MigrationError.changedAfterApply(let name, _, _) = error else { return false }
            return name == embeddedMigrations[0].name
        }
    }

    @Test func aMigrationFromANewerCorsdStopsStartup() throws {
        #expect(throws: AppDatabase.MigrationError.unknownApplied(name: embeddedMigrations[0].name)) {
            try AppDatabase.migrate(database.writer, migrations: [])
        }
    }

    @Test func createWritesRevisionAndAuditInTheSameTransaction() async throws {
        let created = try await store.create(try deployment(), actor: actor)
        #expect(created.stored?.revision == 1)
        #expect(try count("revisions") == 1)
        #expect(try count("audit") == 1)
        // A failing write leaves nothing behind.
        await #expect(throws: StoreError.alreadyExists("deployment 'omero-prod'")) { try await store.create(try deployment(), actor: actor) }
        #expect(try count("revisions") == 1)
        #expect(try count("audit") == 1)
        let audit = try await store.audit(deployment: "omero-prod", since: nil, after: nil, limit: 10)
        #expect(audit.map(\.action) == ["deployment.create"])
        #expect(audit.first?.tokenName == "tester")
        #expect(audit.first?.client == "127.0.0.1")
    }

    @Test func aTransformThatThrowsRollsBackEverything() async throws {
        _ = try await store.create(try deployment(), actor: actor)
        struct Boom: Error {}
        await #expect(throws: Boom.self) { try await store.modify("omero-prod", precondition: .none, actor: actor) { _ in throw Boom() } }
        #expect(try count("revisions") == 1)
        #expect(try count("audit") == 1)
    }

    @Test func aFailedPreconditionWritesNothing() async throws {
        _ = try await store.create(try deployment(), actor: actor)
        await #expect(throws: StoreError.preconditionFailed(current: 1)) {
            try await store.modify("omero-prod", precondition: .revision(in: [7, 8]), actor: actor) { d in var d = d; d?.description = "x"; return d }
        }
        #expect(try await store.get("omero-prod")?.deployment.description == "")
        await #expect(throws: StoreError.preconditionFailed(current: nil)) {
            try await store.modify("absent", precondition: .exists, actor: actor) { _ in try deployment("absent") }
        }
    }

    @Test func aDryRunReportsTheChangeAndWritesNothing() async throws {
        _ = try await store.create(try deployment(), actor: actor)
        let planned = try await store.modify("omero-prod", precondition: .revision(in: [1]), actor: actor, dryRun: true) { d in var d = d; d?.description = "x"; return d }
        #expect(planned.changed)
        #expect(planned.stored?.revision == 2)
        #expect(planned.previous?.revision == 1)
        #expect(try count("revisions") == 1)
        let deletion = try await store.delete("omero-prod", precondition: .none, actor: actor, dryRun: true)
        #expect(deletion.stored == nil)
        #expect(try await store.get("omero-prod") != nil)
    }

    @Test func noChangeWritesNoRevision() async throws {
        _ = try await store.create(try deployment(), actor: actor)
        let result = try await store.modify("omero-prod", precondition: .revision(in: [1]), actor: actor) { $0 }
        #expect(!result.changed)
        #expect(try count("revisions") == 1)
    }

    @Test func deleteThenRestoreBringsItBackAsANewRevision() async throws {
        var d = try deployment()
        d.description = "v1"
        _ = try await store.create(d, actor: actor)
        _ = try await store.modify("omero-prod", precondition: .revision(in: [1]), actor: actor) { d in var d = d; d?.description = "v2"; return d }
        _ = try await store.delete("omero-prod", precondition: .revision(in: [2]), actor: actor)
        #expect(try await store.get("omero-prod") == nil)
        #expect(try await store.revisions(of: "omero-prod").map(\.action) == [.create, .update, .delete])
        let restored = try await store.restore(1, of: "omero-prod", precondition: .none, actor: actor)
        #expect(restored.stored?.revision == 4)
        #expect(restored.stored?.deployment.description == "v1")
        #expect(try await store.revisions(of: "omero-prod").last?.action == .restore)
    }

    @Test func auditPaginatesWithACursor() async throws {
        for i in 0..<5 { _ = try await store.create(try deployment("d\(i)"), actor: actor) }
        let first = try await store.audit(deployment: nil, since: nil, after: nil, limit: 2)
        let cursor = try #require(first.last?.id)
        let second = try await store.audit(deployment: nil, since: nil, after: cursor, limit: 2)
        #expect(first.count == 2)
        #expect(second.count == 2)
        #expect(cursor < (second.first?.id ?? 0))
        #expect(try await store.audit(deployment: "d3", since: nil, after: nil, limit: 10).map(\.target) == ["deployment:d3"])
    }

    @Test func tokensAreHashedAndAuthenticate() async throws {
        let tokens = try database.tokens()
        let (record, secret) = try await tokens.create(name: "ci", scope: "agent:omero-prod", actor: actor)
        #expect(try tokens.authenticate(secret)?.scope == .agent("omero-prod"))
        #expect(try tokens.authenticate(secret + "x") == nil)
        let row = try database.writer.read { try Row.fetchOne($0, sql: "SELECT * FROM tokens") }
        #expect(!String(describing: row).contains(secret), "the secret itself is never stored")
        await #expect(throws: TokenError.nameTaken("ci")) { try await tokens.create(name: "ci", scope: "read", actor: actor) }
        await #expect(throws: TokenError.invalidScope("root")) { try await tokens.create(name: "x", scope: "root", actor: actor) }
        try await tokens.revoke(id: record.id, actor: actor)
        #expect(try tokens.authenticate(secret) == nil)
        await #expect(throws: TokenError.notFound(record.id)) { try await tokens.revoke(id: record.id, actor: actor) }
    }

    @Test func bootstrapFromEnvironmentCreatesThenRotatesWithAnAuditRow() async throws {
        let tokens = try database.tokens()
        #expect(try await tokens.bootstrap(environmentSecret: "first") == nil)
        #expect(try tokens.authenticate("first")?.scope == .admin)
        #expect(try await tokens.bootstrap(environmentSecret: "first") == nil)
        #expect(try count("audit") == 1, "the same secret again changes nothing")
        #expect(try await tokens.bootstrap(environmentSecret: "second") == nil)
        #expect(try tokens.authenticate("first") == nil)
        #expect(try tokens.authenticate("second")?.name == "bootstrap")
        #expect(try await tokens.list().count == 1)
        let actions = try await store.audit(deployment: nil, since: nil, after: nil, limit: 10).map(\.action)
        #expect(actions.sorted() == ["token.create", "token.rotate"])
    }

    @Test func bootstrapWithoutEnvironmentCreatesOneOnlyWhenThereAreNone() async throws {
        let tokens = try database.tokens()
        let secret = try #require(try await tokens.bootstrap(environmentSecret: nil))
        #expect(try tokens.authenticate(secret)?.scope == .admin)
        #expect(try await tokens.bootstrap(environmentSecret: nil) == nil)
    }

    @Test func anExpiredTokenIsRefusedAndAPastExpiryIsRejected() async throws {
        let clock = Clock()
        let tokens = try database.tokens(now: { clock.now })
        let (info, secret) = try await tokens.create(name: "short", scope: "read", actor: actor, expiresAt: clock.now.addingTimeInterval(3600))
        #expect(info.expiresAt != nil)
        #expect(try tokens.authenticate(secret)?.name == "short")
        clock.advance(3599)
        #expect(try tokens.authenticate(secret)?.name == "short")
        clock.advance(1)
        #expect(try tokens.authenticate(secret) == nil, "expired at the instant of expires_at")
        await #expect(throws: TokenError.self) {
            try await tokens.create(name: "late", scope: "read", actor: actor, expiresAt: clock.now.addingTimeInterval(-1))
        }
    }

    @Test func usesAreWrittenToLastUsedAtOnlyWhenFlushed() async throws {
        let tokens = try database.tokens()
        let (info, secret) = try await tokens.create(name: "ci", scope: "read", actor: actor)
        #expect(info.lastUsedAt == nil)
        _ = try tokens.authenticate(secret)
        let stored = { try self.database.writer.read { try String.fetchOne($0, sql: "SELECT last_used_at FROM tokens") } }
        #expect(try stored() == nil, "not written per request")
        #expect(try await tokens.list().first?.lastUsedAt != nil, "but listed at once")
        try await tokens.flushUsage()
        #expect(try stored() != nil)
    }

    /// Two opens of one file stand for the server and `corsd token` in another process: each
    /// has its own connections, as the two processes would.
    @Test func aTokenChangedThroughAnotherConnectionTakesEffectOnTheNextAuthentication() async throws {
        let path = NSTemporaryDirectory() + "corsd-tokens-\(UUID().uuidString).sqlite"
        let server = try AppDatabase.open(path: path).tokens()
        let cli = try AppDatabase.open(path: path).tokens()
        let (info, secret) = try await cli.create(name: "ops", scope: "admin", actor: actor)
        #expect(try server.authenticate(secret)?.id == info.id, "a token created elsewhere works at once")
        try await cli.revoke(id: info.id, actor: actor)
        #expect(try server.authenticate(secret) == nil, "a token revoked elsewhere is refused at once")
    }

    @Test func aMissingFileIsNotCreatedUnlessAsked() throws {
        let path = NSTemporaryDirectory() + "corsd-absent-\(UUID().uuidString).sqlite"
        #expect(throws: AppDatabase.OpenError.self) { try AppDatabase.open(path: path, create: false) }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func readinessNeedsEveryMigrationAndABackupIsACompleteDatabase() async throws {
        let dir = NSTemporaryDirectory() + "corsd-backup-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let file = try AppDatabase.open(path: dir + "/live.sqlite")
        try await file.checkReady()
        _ = try await file.policies().create(try deployment(), actor: actor)
        try await file.backup(to: dir + "/copy.sqlite")
        await #expect(throws: AppDatabase.OpenError.self) { try await file.backup(to: dir + "/copy.sqlite") }
        let copy = try AppDatabase.open(path: dir + "/copy.sqlite", create: false)
        #expect(copy.applied.isEmpty, "the copy carries its migrations")
        #expect(try await copy.policies().get("omero-prod")?.revision == 1)
        // A newer corsd migrating the file under a running server makes it not ready.
        try await file.writer.write { try $0.execute(sql: "INSERT INTO corsd_migrations VALUES ('9999_future.sql', 'x', 'now')") }
        await #expect(throws: AppDatabase.ReadinessError.self) { try await file.checkReady() }
    }
}

/// A settable clock for expiry.
final class Clock: @unchecked Sendable {
    private let lock = NSLock()
    private var current = Date(timeIntervalSince1970: 1_800_000_000)
    var now: Date { lock.withLock { current } }
    func advance(_ seconds: Double) { lock.withLock { current += seconds } }
}

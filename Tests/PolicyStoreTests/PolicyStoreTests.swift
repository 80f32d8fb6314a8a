import CorsdModel
import Foundation
import GRDB
import XCTest

@testable import PolicyStore

final class PolicyStoreTests: XCTestCase {
    private var path = ""
    private var pool: DatabasePool!
    private var store: PolicyStore!
    private let actor = Actor(tokenName: "tester", client: "127.0.0.1")

    override func setUpWithError() throws {
        path = NSTemporaryDirectory() + "corsd-store-\(UUID().uuidString).sqlite"
        pool = try CorsdDatabase.open(path: path)
        try CorsdDatabase.migrate(pool)
        store = PolicyStore(pool: pool)
    }

    private func deployment(_ name: String = "omero-prod") -> Deployment {
        Deployment(name: name, upstream: "http://omero.internal:4080")
    }

    private func count(_ table: String) throws -> Int {
        try pool.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM \(table)")! }
    }

    func testDatabaseIsWALWithFullSyncAndForeignKeys() throws {
        try pool.read { db in
            XCTAssertEqual(try String.fetchOne(db, sql: "PRAGMA journal_mode"), "wal")
            XCTAssertEqual(try Int.fetchOne(db, sql: "PRAGMA synchronous"), 2)  // FULL
            XCTAssertEqual(try Int.fetchOne(db, sql: "PRAGMA foreign_keys"), 1)
        }
    }

    func testEmbeddedMigrationsMatchTheFilesInMigrations() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("migrations")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".sql") }.sorted()
        XCTAssertEqual(embeddedMigrations.map(\.name), files, "run scripts/embed-migrations")
        for (name, sql) in embeddedMigrations {
            let text = try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
            XCTAssertEqual(sql, String(text.dropLast(text.hasSuffix("\n") ? 1 : 0)), "\(name): run scripts/embed-migrations")
        }
    }

    func testMigrationsApplyOnceAndAreRecordedWithChecksums() throws {
        XCTAssertEqual(try CorsdDatabase.migrate(pool), [], "already applied in setUp")
        let rows = try pool.read { try Row.fetchAll($0, sql: "SELECT name, sha256 FROM corsd_migrations") }
        XCTAssertEqual(rows.count, embeddedMigrations.count)
    }

    /// A database written by corsd 0.1 (systemd_units as names, no urls_regex) is carried to
    /// the current shape, current documents and revisions alike, and the units keep the
    /// limits their drop-ins had.
    func testMigration0002CarriesVersion1DocumentsForward() async throws {
        let oldPath = NSTemporaryDirectory() + "corsd-v1-\(UUID().uuidString).sqlite"
        let old = try CorsdDatabase.open(path: oldPath)
        try CorsdDatabase.migrate(old, migrations: Array(embeddedMigrations.prefix(1)))
        let v1 = #"{"name":"omero-prod","description":"","upstream":"http://o:4080","cors":{"allow_all_origins":false,"allowed_origins":[],"allowed_origin_patterns":[],"allow_methods":["GET"],"allow_headers":["accept"],"expose_headers":[],"allow_credentials":false,"preflight_max_age":86400,"allow_private_network":false,"mode":"reject"},"django":{"cors_headers_version":"3.7.0"},"limits":[{"domain":"@omero","type":"-","item":"nofile","value":4096},{"domain":"omero","type":"soft","item":"nofile","value":65535},{"domain":"omero","type":"hard","item":"nofile","value":65535}],"systemd_units":["omero-web.service","omero-server.service"],"allow_above_nr_open":false}"#
        try await old.write { db in
            try db.execute(sql: "INSERT INTO deployments VALUES ('omero-prod', 1, ?, 't', 't')", arguments: [v1])
            try db.execute(sql: "INSERT INTO revisions VALUES ('omero-prod', 1, 'create', ?, 'a', 't')", arguments: [v1])
        }
        XCTAssertEqual(try CorsdDatabase.migrate(old), ["0002_units_with_users_and_urls_regex.sql", "0003_tile_cache_policy.sql"])
        let migrated = try XCTUnwrap(try PolicyStore(pool: old).current("omero-prod")).deployment
        XCTAssertEqual(migrated.systemdUnits, [SystemdUnit(unit: "omero-web.service", user: "omero"), SystemdUnit(unit: "omero-server.service", user: "omero")])
        XCTAssertEqual(migrated.cors.urlsRegex.source, ".*", "existing deployments keep django-cors-headers' every-path default")
        let revision = try await old.read { try String.fetchOne($0, sql: "SELECT document FROM revisions")! }
        XCTAssertTrue(revision.contains(#""systemd_units":[{"unit":"omero-web.service","user":"omero"}"#), revision)
    }

    func testAChangedAppliedMigrationStopsStartup() throws {
        var changed = embeddedMigrations
        changed[0].sql += "\n-- edited"
        XCTAssertThrowsError(try CorsdDatabase.migrate(pool, migrations: changed)) { error in
            guard case CorsdDatabase.MigrationError.changedAfterApply(let name, _, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(name, embeddedMigrations[0].name)
        }
    }

    func testAMigrationFromANewerCorsdStopsStartup() throws {
        XCTAssertThrowsError(try CorsdDatabase.migrate(pool, migrations: [])) { error in
            XCTAssertEqual(error as? CorsdDatabase.MigrationError, .unknownApplied(name: embeddedMigrations[0].name))
        }
    }

    func testCreateWritesRevisionAndAuditInTheSameTransaction() async throws {
        let stored = try await store.create(deployment(), actor: actor)
        XCTAssertEqual(stored.revision, 1)
        XCTAssertEqual(try count("revisions"), 1)
        XCTAssertEqual(try count("audit"), 1)
        // A failing write leaves nothing behind.
        do {
            _ = try await store.create(deployment(), actor: actor)
            XCTFail("duplicate accepted")
        } catch StoreError.alreadyExists {}
        XCTAssertEqual(try count("revisions"), 1)
        XCTAssertEqual(try count("audit"), 1)
        let audit = try await store.audit(deployment: "omero-prod", since: nil, after: nil, limit: 10)
        XCTAssertEqual(audit.map(\.action), ["deployment.create"])
        XCTAssertEqual(audit.first?.tokenName, "tester")
        XCTAssertEqual(audit.first?.client, "127.0.0.1")
    }

    func testATransformThatThrowsRollsBackEverything() async throws {
        _ = try await store.create(deployment(), actor: actor)
        struct Boom: Error {}
        do {
            _ = try await store.modify("omero-prod", ifMatch: nil, actor: actor) { _ in throw Boom() }
            XCTFail()
        } catch is Boom {}
        XCTAssertEqual(try count("revisions"), 1)
        XCTAssertEqual(try count("audit"), 1)
    }

    func testIfMatchMismatchWritesNothing() async throws {
        _ = try await store.create(deployment(), actor: actor)
        do {
            _ = try await store.modify("omero-prod", ifMatch: 7, actor: actor) { d in var d = d!; d.description = "x"; return d }
            XCTFail()
        } catch StoreError.revisionMismatch(let current) {
            XCTAssertEqual(current, 1)
        }
        let stored = try await store.get("omero-prod")
        XCTAssertEqual(stored?.deployment.description, "")
    }

    func testNoChangeWritesNoRevision() async throws {
        _ = try await store.create(deployment(), actor: actor)
        let result = try await store.modify("omero-prod", ifMatch: 1, actor: actor) { $0 }
        XCTAssertFalse(result.changed)
        XCTAssertEqual(try count("revisions"), 1)
    }

    func testDeleteThenRestoreBringsItBackAsANewRevision() async throws {
        var d = deployment()
        d.description = "v1"
        _ = try await store.create(d, actor: actor)
        _ = try await store.modify("omero-prod", ifMatch: 1, actor: actor) { d in var d = d!; d.description = "v2"; return d }
        try await store.delete("omero-prod", ifMatch: 2, actor: actor)
        let gone = try await store.get("omero-prod")
        XCTAssertNil(gone)
        let revisions = try await store.revisions(of: "omero-prod")
        XCTAssertEqual(revisions.map(\.action), ["create", "update", "delete"])
        let restored = try await store.restore(1, of: "omero-prod", ifMatch: nil, actor: actor)
        XCTAssertEqual(restored.revision, 4)
        XCTAssertEqual(restored.deployment.description, "v1")
        let again = try await store.revisions(of: "omero-prod")
        XCTAssertEqual(again.last?.action, "restore")
    }

    func testAuditPaginatesWithACursor() async throws {
        for i in 0..<5 { _ = try await store.create(deployment("d\(i)"), actor: actor) }
        let first = try await store.audit(deployment: nil, since: nil, after: nil, limit: 2)
        let second = try await store.audit(deployment: nil, since: nil, after: first.last!.id, limit: 2)
        XCTAssertEqual(first.count, 2)
        XCTAssertEqual(second.count, 2)
        XCTAssertLessThan(first.last!.id, second.first!.id)
        let filtered = try await store.audit(deployment: "d3", since: nil, after: nil, limit: 10)
        XCTAssertEqual(filtered.map(\.target), ["deployment:d3"])
    }

    func testTokensAreHashedAndAuthenticate() throws {
        let tokens = try TokenStore(pool: pool)
        let (record, secret) = try tokens.create(name: "ci", scope: "agent:omero-prod", actor: actor)
        XCTAssertEqual(tokens.authenticate(secret)?.1, .agent("omero-prod"))
        XCTAssertNil(tokens.authenticate(secret + "x"))
        let stored = try pool.read { try Row.fetchOne($0, sql: "SELECT * FROM tokens")! }
        XCTAssertFalse(String(describing: stored).contains(secret), "the secret itself is never stored")
        XCTAssertThrowsError(try tokens.create(name: "ci", scope: "read", actor: actor)) { XCTAssertEqual($0 as? TokenError, .nameTaken("ci")) }
        XCTAssertThrowsError(try tokens.create(name: "x", scope: "root", actor: actor)) { XCTAssertEqual($0 as? TokenError, .invalidScope("root")) }
        try tokens.revoke(id: record.id, actor: actor)
        XCTAssertNil(tokens.authenticate(secret))
        XCTAssertThrowsError(try tokens.revoke(id: record.id, actor: actor))
    }

    func testBootstrapFromEnvironmentCreatesThenRefreshes() throws {
        let tokens = try TokenStore(pool: pool)
        XCTAssertNil(try tokens.bootstrap(environmentSecret: "first"))
        XCTAssertEqual(tokens.authenticate("first")?.1, .admin)
        XCTAssertNil(try tokens.bootstrap(environmentSecret: "second"))
        XCTAssertNil(tokens.authenticate("first"))
        XCTAssertEqual(tokens.authenticate("second")?.0.name, "bootstrap")
        XCTAssertEqual(tokens.list().count, 1)
    }

    func testBootstrapWithoutEnvironmentCreatesOneOnlyWhenThereAreNone() throws {
        let tokens = try TokenStore(pool: pool)
        let secret = try XCTUnwrap(try tokens.bootstrap(environmentSecret: nil))
        XCTAssertEqual(tokens.authenticate(secret)?.1, .admin)
        XCTAssertNil(try tokens.bootstrap(environmentSecret: nil))
    }
}

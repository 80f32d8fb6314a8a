import CorsdModel
import Crypto
import Foundation
import GRDB

/// corsd's database: owns the `DatabaseWriter`, applies the migrations and vends the stores.
/// Nothing outside this module touches GRDB.
///
/// On disk it is a WAL `DatabasePool` with `synchronous=FULL` (policy writes are rare and must
/// survive power loss), foreign keys on and a busy timeout; tests use an in-memory
/// `DatabaseQueue` with the same migrations.
public final class AppDatabase: Sendable {
    let writer: any DatabaseWriter
    /// The migrations this open applied (empty when the database was up to date).
    public let applied: [String]

    public enum MigrationError: Error, CustomStringConvertible, Equatable {
        case changedAfterApply(name: String, recorded: String, current: String)
        case unknownApplied(name: String)

        public var description: String {
            switch self {
            case .changedAfterApply(let name, let recorded, let current):
                return "migration \(name) was changed after it was applied to this database (recorded sha256 \(recorded.prefix(12))…, now \(current.prefix(12))…): restore the original file and put the change in a new migration"
            case .unknownApplied(let name):
                return "this database has migration \(name), which this corsd does not know: it was written by a newer corsd"
            }
        }
    }

    /// Wraps `writer` and brings its schema up to date.
    public init(_ writer: any DatabaseWriter, migrations: [(name: String, sql: String)] = embeddedMigrations) throws {
        self.writer = writer
        self.applied = try Self.migrate(writer, migrations: migrations)
    }

    static var configuration: Configuration {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        return configuration
    }

    /// The database file at `path`, created if absent, migrated.
    public static func open(path: String, migrations: [(name: String, sql: String)] = embeddedMigrations) throws -> AppDatabase {
        try AppDatabase(try DatabasePool(path: path, configuration: configuration), migrations: migrations)
    }

    /// A private in-memory database (tests, previews), migrated.
    public static func inMemory() throws -> AppDatabase {
        try AppDatabase(try DatabaseQueue(configuration: configuration))
    }

    /// The policy store; `onChange` runs after every committed change (see `PolicyStore`).
    public func policies(onChange: @escaping @Sendable (String, Deployment?) -> Void = { _, _ in }) -> PolicyStore {
        PolicyStore(writer: writer, onChange: onChange)
    }

    /// The token store, its cache loaded.
    public func tokens() async throws -> TokenStore {
        let store = TokenStore(writer: writer)
        try await store.reload()
        return store
    }

    // MARK: Migrations

    /// Applies pending migrations in order, each in its own transaction, after checking that
    /// every applied one is unchanged. Returns the names it applied.
    static func migrate(_ writer: any DatabaseWriter, migrations: [(name: String, sql: String)]) throws -> [String] {
        try writer.write { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS corsd_migrations (
                    name TEXT PRIMARY KEY NOT NULL, sha256 TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT
                """)
            let recorded = try Row.fetchAll(db, sql: "SELECT name, sha256 FROM corsd_migrations")
            let known = Dictionary(uniqueKeysWithValues: migrations.map { ($0.name, checksum($0.sql)) })
            for row in recorded {
                let name: String = row["name"], sha: String = row["sha256"]
                guard let current = known[name] else { throw MigrationError.unknownApplied(name: name) }
                if current != sha { throw MigrationError.changedAfterApply(name: name, recorded: sha, current: current) }
            }
        }
        var migrator = DatabaseMigrator()
        for migration in migrations {
            migrator.registerMigration(migration.name) { db in
                try db.execute(sql: migration.sql)
                try db.execute(sql: "INSERT INTO corsd_migrations (name, sha256, applied_at) VALUES (?, ?, ?)",
                               arguments: [migration.name, checksum(migration.sql), Timestamp.now()])
            }
        }
        let before = try writer.read { try migrator.appliedIdentifiers($0) }
        try migrator.migrate(writer)
        return migrations.map(\.name).filter { !before.contains($0) }
    }

    static func checksum(_ sql: String) -> String {
        SHA256.hash(data: Data(sql.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}

/// RFC 3339 UTC timestamps with milliseconds, as stored and served.
public enum Timestamp {
    public static func now() -> String { format(Date()) }

    public static func format(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: date)
    }

    public static func parse(_ text: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: text) { return d }
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: text)
    }
}

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
    /// The file, or nil for an in-memory database.
    public let path: String?
    let migrations: [(name: String, sql: String)]
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
    public init(_ writer: any DatabaseWriter, path: String? = nil, migrations: [(name: String, sql: String)] = embeddedMigrations) throws {
        self.writer = writer
        self.path = path
        self.migrations = migrations
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

    /// The database file at `path`, migrated. With `create: false`, a missing file is an
    /// error (`OpenError.missing`) instead of a new empty database.
    public static func open(path: String, create: Bool = true, migrations: [(name: String, sql: String)] = embeddedMigrations) throws -> AppDatabase {
        if !create && !FileManager.default.fileExists(atPath: path) { throw OpenError.missing(path) }
        return try AppDatabase(try DatabasePool(path: path, configuration: configuration), path: path, migrations: migrations)
    }

    public enum OpenError: Error, CustomStringConvertible {
        case missing(String)
        case backupTargetExists(String)

        public var description: String {
            switch self {
            case .missing(let path): return "no database at \(path) (`corsd serve` or `corsd migrate` creates one; --db names another)"
            case .backupTargetExists(let path): return "\(path) already exists; a backup never overwrites a file"
            }
        }
    }

    /// A private in-memory database (tests, previews), migrated.
    public static func inMemory() throws -> AppDatabase {
        try AppDatabase(try DatabaseQueue(configuration: configuration))
    }

    /// The policy store; `onChange` runs after every committed change (see `PolicyStore`).
    public func policies(onChange: @escaping @Sendable (PolicyChange) -> Void = { _ in }) -> PolicyStore {
        PolicyStore(writer: writer, onChange: onChange)
    }

    /// Host reports.
    public func hosts() -> HostStore { HostStore(writer: writer) }

    /// The token store, loaded. On a file, it watches for commits through a read-only
    /// connection of its own (see `TokenStore`).
    public func tokens(now: @escaping @Sendable () -> Date = Date.init) throws -> TokenStore {
        var readOnly = Self.configuration
        readOnly.readonly = true
        let probe = try path.map { try DatabaseQueue(path: $0, configuration: readOnly) }
        let store = TokenStore(writer: writer, probe: probe, now: now)
        try store.reload()
        return store
    }

    // MARK: Readiness and backup

    /// Throws unless the database answers and every migration this corsd knows is applied
    /// (another process may have opened it with a newer corsd, or the file may be gone).
    public func checkReady() async throws {
        let names = migrations.map(\.name)
        let applied = try await writer.read { db in try String.fetchSet(db, sql: "SELECT name FROM corsd_migrations") }
        let missing = names.filter { !applied.contains($0) }
        if !missing.isEmpty { throw ReadinessError.migrationsPending(missing) }
        let unknown = applied.subtracting(names)
        if !unknown.isEmpty { throw ReadinessError.unknownMigrations(unknown.sorted()) }
    }

    public enum ReadinessError: Error, CustomStringConvertible {
        case migrationsPending([String])
        case unknownMigrations([String])

        public var description: String {
            switch self {
            case .migrationsPending(let names): return "migrations not applied: \(names.joined(separator: ", "))"
            case .unknownMigrations(let names): return "the database has migrations this corsd does not know: \(names.joined(separator: ", "))"
            }
        }
    }

    /// A consistent copy of the live database in a new file (`VACUUM INTO`: one read
    /// transaction, so writers carry on; the copy is compact and self-contained, no WAL).
    public func backup(to destination: String) async throws {
        if FileManager.default.fileExists(atPath: destination) { throw OpenError.backupTargetExists(destination) }
        try await writer.unsafeRead { db in try db.execute(sql: "VACUUM INTO ?", arguments: [destination]) }
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

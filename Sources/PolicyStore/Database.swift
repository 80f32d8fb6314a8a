import Crypto
import Foundation
import GRDB

/// Opens corsd's SQLite database: WAL, `synchronous=FULL` (policy writes are rare and must
/// survive power loss), foreign keys on, a busy timeout, and the migrations applied.
public enum CorsdDatabase {
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

    public static func open(path: String) throws -> DatabasePool {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        return try DatabasePool(path: path, configuration: configuration)
    }

    /// Applies pending migrations in order, each in its own transaction, after checking that
    /// every applied one is unchanged. Returns the names it applied.
    @discardableResult
    public static func migrate(_ pool: DatabasePool, migrations: [(name: String, sql: String)] = embeddedMigrations) throws -> [String] {
        try pool.write { db in
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
        let before = try pool.read { try migrator.appliedIdentifiers($0) }
        try migrator.migrate(pool)
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

import CorsdModel
import Crypto
import Foundation
import GRDB
import Synchronization

/// What a token may do.
public enum Scope: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// Everything, including tokens.
    case admin
    /// Every GET of the management API.
    case read
    /// Read one deployment and its renders: what a host's agent needs.
    case agent(String)

    public init?(_ text: String) {
        switch text {
        case "admin": self = .admin
        case "read": self = .read
        default:
            guard text.hasPrefix("agent:") else { return nil }
            let name = String(text.dropFirst(6))
            guard DeploymentValidator.isValidName(name) else { return nil }
            self = .agent(name)
        }
    }

    public var description: String {
        switch self {
        case .admin: return "admin"
        case .read: return "read"
        case .agent(let d): return "agent:\(d)"
        }
    }
}

public struct TokenRecord: Sendable, Equatable, Codable {
    public var id: String
    public var name: String
    public var scope: String
    public var createdAt: String

    enum CodingKeys: String, CodingKey {
        case id, name, scope
        case createdAt = "created_at"
    }
}

public enum TokenError: Error, Equatable, CustomStringConvertible {
    case invalidName
    case invalidScope(String)
    case nameTaken(String)
    case notFound(String)

    public var description: String {
        switch self {
        case .invalidName: return "token name must be 1–64 characters of letters, digits, '.', '_' or '-'"
        case .invalidScope(let s): return "scope '\(s)' is not one of admin, read, agent:<deployment>"
        case .nameTaken(let n): return "a token named '\(n)' already exists"
        case .notFound(let id): return "token \(id) not found"
        }
    }
}

/// API tokens. Secrets are shown once at creation and stored only as SHA-256 hashes; lookups
/// compare the presented secret's hash against every token in constant time, from an
/// in-memory copy refreshed on every token change (no SQLite read per request).
public final class TokenStore: Sendable {
    private let pool: DatabasePool
    private let cache = Mutex<[(record: TokenRecord, hash: [UInt8])]>([])

    public init(pool: DatabasePool) throws {
        self.pool = pool
        try reload()
    }

    public func reload() throws {
        let rows = try pool.read { db in try Row.fetchAll(db, sql: "SELECT * FROM tokens ORDER BY created_at, id") }
        let entries = rows.map { row -> (TokenRecord, [UInt8]) in
            (TokenRecord(id: row["id"], name: row["name"], scope: row["scope"], createdAt: row["created_at"]), [UInt8]((row["secret_sha256"] as Data)))
        }
        cache.withLock { $0 = entries }
    }

    public var isEmpty: Bool { cache.withLock { $0.isEmpty } }

    public func list() -> [TokenRecord] { cache.withLock { $0.map(\.record) } }

    /// The token whose secret this is, if any.
    public func authenticate(_ secret: String) -> (TokenRecord, Scope)? {
        let presented = Self.hash(secret)
        let entries = cache.withLock { $0 }
        var found: TokenRecord?
        for entry in entries where Self.constantTimeEqual(entry.hash, presented) {
            found = entry.record
        }
        guard let found, let scope = Scope(found.scope) else { return nil }
        return (found, scope)
    }

    /// Creates a token; returns it and its secret (shown once, never stored).
    public func create(name: String, scope: String, actor: Actor, secret: String? = nil) throws -> (TokenRecord, String) {
        guard name.wholeMatch(of: /[A-Za-z0-9._-]{1,64}/) != nil else { throw TokenError.invalidName }
        guard Scope(scope) != nil else { throw TokenError.invalidScope(scope) }
        let secret = secret ?? Self.newSecret()
        let record = TokenRecord(id: "tok_" + Self.randomHex(6), name: name, scope: scope, createdAt: Timestamp.now())
        try pool.write { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM tokens WHERE name = ?", arguments: [name]) == true { throw TokenError.nameTaken(name) }
            try db.execute(sql: "INSERT INTO tokens (id, name, scope, secret_sha256, created_at) VALUES (?, ?, ?, ?, ?)",
                           arguments: [record.id, name, scope, Data(Self.hash(secret)), record.createdAt])
            try PolicyStore.audit(db, actor: actor, action: "token.create", target: "token:\(record.id)", revision: nil)
        }
        try reload()
        return (record, secret)
    }

    public func revoke(id: String, actor: Actor) throws {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM tokens WHERE id = ?", arguments: [id])
            guard db.changesCount > 0 else { throw TokenError.notFound(id) }
            try PolicyStore.audit(db, actor: actor, action: "token.revoke", target: "token:\(id)", revision: nil)
        }
        try reload()
    }

    /// Start-up bootstrap: `CORSD_ADMIN_TOKEN` creates or refreshes the admin token named
    /// `bootstrap`; with no tokens at all and no such variable, one is created and its secret
    /// returned so `serve` can print it once.
    public func bootstrap(environmentSecret: String?) throws -> String? {
        let actor = Actor(tokenName: "corsd", client: "startup")
        if let secret = environmentSecret, !secret.isEmpty {
            let existing = list().first { $0.name == "bootstrap" }
            if let existing {
                try pool.write { db in
                    try db.execute(sql: "UPDATE tokens SET secret_sha256 = ?, scope = 'admin' WHERE id = ?", arguments: [Data(Self.hash(secret)), existing.id])
                }
                try reload()
            } else {
                _ = try create(name: "bootstrap", scope: "admin", actor: actor, secret: secret)
            }
            return nil
        }
        guard isEmpty else { return nil }
        return try create(name: "bootstrap", scope: "admin", actor: actor).1
    }

    static func hash(_ secret: String) -> [UInt8] { Array(SHA256.hash(data: Data(secret.utf8))) }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<a.count { diff |= a[i] ^ b[i] }
        return diff == 0
    }

    static func newSecret() -> String { "corsd_" + randomHex(32) }

    static func randomHex(_ bytes: Int) -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &g)) }.joined()
    }
}

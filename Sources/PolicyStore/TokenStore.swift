import CorsdBase
import CorsdModel
import Crypto
import Foundation
import GRDB
import Synchronization

public enum TokenError: Error, Equatable, CustomStringConvertible {
    case invalidName
    case invalidScope(String)
    case nameTaken(String)
    case notFound(String)

    public static let nameRule = "must be 1–64 characters of letters, digits, '.', '_' or '-'"

    public var description: String {
        switch self {
        case .invalidName: return "token name \(Self.nameRule)"
        case .invalidScope(let s): return "scope '\(s)' \(Scope.rule)"
        case .nameTaken(let n): return "a token named '\(n)' already exists"
        case .notFound(let id): return "token \(id) not found"
        }
    }
}

/// API tokens. Secrets are shown once at creation and stored only as SHA-256 hashes; lookups
/// compare the presented secret's hash against every token in constant time, from an
/// in-memory copy refreshed on every token change (no SQLite read per request).
public final class TokenStore: Sendable {
    private let writer: any DatabaseWriter
    private let cache = Mutex<[TokenRecord]>([])

    init(writer: any DatabaseWriter) {
        self.writer = writer
    }

    public func reload() async throws {
        let records = try await writer.read { db in
            try TokenRecord.order(TokenRecord.Columns.createdAt, TokenRecord.Columns.id).fetchAll(db)
        }
        cache.withLock { $0 = records }
    }

    public var isEmpty: Bool { cache.withLock { $0.isEmpty } }

    public func list() -> [TokenInfo] { cache.withLock { $0.map(\.info) } }

    /// The token whose secret this is, if any.
    public func authenticate(_ secret: String) -> TokenInfo? {
        let presented = Self.hash(secret)
        let records = cache.withLock { $0 }
        var found: TokenInfo?
        for record in records where Self.constantTimeEqual(record.secretSHA256, presented) {
            found = record.info
        }
        return found
    }

    /// Creates a token; returns it and its secret (shown once, never stored).
    public func create(name: String, scope scopeText: String, actor: Actor, secret: String? = nil) async throws -> (TokenInfo, String) {
        guard Self.isValidName(name) else { throw TokenError.invalidName }
        guard let scope = Scope(scopeText) else { throw TokenError.invalidScope(scopeText) }
        let secret = secret ?? Self.newSecret()
        let record = TokenRecord(id: "tok_" + Self.randomHex(6), name: name, scope: scope, secretSHA256: Self.hash(secret), createdAt: Timestamp.now())
        try await writer.write { db in
            if try TokenRecord.filter(TokenRecord.Columns.name == name).fetchCount(db) > 0 { throw TokenError.nameTaken(name) }
            try record.insert(db)
            try AuditEntry.record(db, actor: actor, action: "token.create", target: "token:\(record.id)", revision: nil)
        }
        try await reload()
        return (record.info, secret)
    }

    public func revoke(id: String, actor: Actor) async throws {
        try await writer.write { db in
            guard try TokenRecord.deleteOne(db, key: id) else { throw TokenError.notFound(id) }
            try AuditEntry.record(db, actor: actor, action: "token.revoke", target: "token:\(id)", revision: nil)
        }
        try await reload()
    }

    /// Start-up bootstrap: `CORSD_ADMIN_TOKEN` creates or refreshes the admin token named
    /// `bootstrap`; with no tokens at all and no such variable, one is created and its secret
    /// returned so `serve` can print it once.
    public func bootstrap(environmentSecret: String?) async throws -> String? {
        let actor = Actor(tokenName: "corsd", client: "startup")
        if let secret = environmentSecret, !secret.isEmpty {
            let hash = Self.hash(secret)
            let refreshed = try await writer.write { db -> Bool in
                guard var existing = try TokenRecord.filter(TokenRecord.Columns.name == "bootstrap").fetchOne(db) else { return false }
                existing.secretSHA256 = hash
                existing.scope = .admin
                try existing.update(db)
                return true
            }
            if refreshed { try await reload() } else { _ = try await create(name: "bootstrap", scope: "admin", actor: actor, secret: secret) }
            return nil
        }
        guard isEmpty else { return nil }
        return try await create(name: "bootstrap", scope: "admin", actor: actor).1
    }

    public static func isValidName(_ name: String) -> Bool { name.wholeMatch(of: /[A-Za-z0-9._-]{1,64}/) != nil }

    static func hash(_ secret: String) -> Data { Data(SHA256.hash(data: Data(secret.utf8))) }

    static func constantTimeEqual(_ a: Data, _ b: Data) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for (x, y) in zip(a, b) { diff |= x ^ y }
        return diff == 0
    }

    static func newSecret() -> String { "corsd_" + randomHex(32) }

    static func randomHex(_ bytes: Int) -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &g)) }.joined()
    }
}

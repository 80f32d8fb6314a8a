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
    case expiryNotInFuture(String)

    public static let nameRule = "must be 1–64 characters of letters, digits, '.', '_' or '-'"

    public var description: String {
        switch self {
        case .invalidName: return "token name \(Self.nameRule)"
        case .invalidScope(let s): return "scope '\(s)' \(Scope.rule)"
        case .nameTaken(let n): return "a token named '\(n)' already exists"
        case .notFound(let id): return "token \(id) not found"
        case .expiryNotInFuture(let at): return "expiry \(at) is not in the future"
        }
    }
}

/// API tokens. Secrets are shown once at creation and stored only as SHA-256 hashes; lookups
/// compare the presented secret's hash against every token in constant time.
///
/// The database is the source of truth, whoever writes it (this server, `corsd token` from a
/// shell, another corsd on the same file): before each authentication the store asks SQLite
/// whether anything was committed since it last loaded (`PRAGMA data_version` on a connection
/// of its own, microseconds) and reloads only then. A revoked or expired token is refused on
/// the next request. Uses are noted in memory and written to `last_used_at` in batches
/// (`flushUsage`), not per request.
public final class TokenStore: Sendable {
    private let writer: any DatabaseWriter
    /// A connection used only to notice commits by other connections (nil for an in-memory
    /// database, which no other connection can change).
    private let probe: (any DatabaseReader)?
    private let now: @Sendable () -> Date

    private struct State {
        var records: [TokenRecord] = []
        /// Parsed `expires_at`, by token id.
        var expiries: [String: Date] = [:]
        var dataVersion: Int?
        /// Uses not yet written to `last_used_at`.
        var pendingUse: [String: String] = [:]
    }
    private let state = Mutex(State())

    init(writer: any DatabaseWriter, probe: (any DatabaseReader)?, now: @escaping @Sendable () -> Date) {
        self.writer = writer
        self.probe = probe
        self.now = now
    }

    /// Loads every token (from the probe connection when there is one, with its data version).
    public func reload() throws {
        let reader: any DatabaseReader = probe ?? writer
        let (records, version) = try reader.read { db in
            (try TokenRecord.order(TokenRecord.Columns.createdAt, TokenRecord.Columns.id).fetchAll(db),
             try Int.fetchOne(db, sql: "PRAGMA data_version"))
        }
        let expiries = Dictionary(uniqueKeysWithValues: records.compactMap { r in r.expiresAt.flatMap(Timestamp.parse).map { (r.id, $0) } })
        state.withLock {
            $0.records = records
            $0.expiries = expiries
            $0.dataVersion = probe == nil ? nil : version
        }
    }

    /// Reloads if another connection committed since the last load.
    private func refreshIfChanged() throws {
        guard let probe else { return }
        let version = try probe.read { try Int.fetchOne($0, sql: "PRAGMA data_version") }
        if version != state.withLock({ $0.dataVersion }) { try reload() }
    }

    public var isEmpty: Bool { state.withLock { $0.records.isEmpty } }

    /// Every token, as stored, with uses not yet written folded in.
    public func list() async throws -> [TokenInfo] {
        let records = try await writer.read { db in
            try TokenRecord.order(TokenRecord.Columns.createdAt, TokenRecord.Columns.id).fetchAll(db)
        }
        let pending = state.withLock { $0.pendingUse }
        return records.map { record in
            var info = record.info
            if let used = pending[record.id] { info.lastUsedAt = used }
            return info
        }
    }

    /// The token whose secret this is, if any and not expired; notes the use.
    public func authenticate(_ secret: String) throws -> TokenInfo? {
        try refreshIfChanged()
        let presented = Self.hash(secret)
        let at = now()
        return state.withLock { s -> TokenInfo? in
            var found: TokenRecord?
            for record in s.records where Self.constantTimeEqual(record.secretSHA256, presented) { found = record }
            guard let found else { return nil }
            if let expiry = s.expiries[found.id], expiry <= at { return nil }
            s.pendingUse[found.id] = Timestamp.format(at)
            return found.info
        }
    }

    /// Writes the noted uses to `last_used_at` in one transaction (the server calls this once
    /// a minute and at shutdown). A token revoked meanwhile is skipped.
    public func flushUsage() async throws {
        let pending = state.withLock { s -> [String: String] in
            defer { s.pendingUse.removeAll() }
            return s.pendingUse
        }
        guard !pending.isEmpty else { return }
        try await writer.write { db in
            for (id, at) in pending {
                try db.execute(sql: "UPDATE tokens SET last_used_at = ? WHERE id = ?", arguments: [at, id])
            }
        }
    }

    /// Creates a token; returns it and its secret (shown once, never stored).
    public func create(name: String, scope scopeText: String, actor: Actor, secret: String? = nil, expiresAt: Date? = nil) async throws -> (TokenInfo, String) {
        guard Self.isValidName(name) else { throw TokenError.invalidName }
        guard let scope = Scope(scopeText) else { throw TokenError.invalidScope(scopeText) }
        if let expiresAt, expiresAt <= now() { throw TokenError.expiryNotInFuture(Timestamp.format(expiresAt)) }
        let secret = secret ?? Self.newSecret()
        let record = TokenRecord(id: "tok_" + Self.randomHex(6), name: name, scope: scope, secretSHA256: Self.hash(secret),
                                 createdAt: Timestamp.format(now()), expiresAt: expiresAt.map(Timestamp.format), lastUsedAt: nil)
        try await writer.write { db in
            if try TokenRecord.filter(TokenRecord.Columns.name == name).fetchCount(db) > 0 { throw TokenError.nameTaken(name) }
            try record.insert(db)
            try AuditEntry.record(db, actor: actor, action: "token.create", target: "token:\(record.id)", revision: nil)
        }
        try reload()
        return (record.info, secret)
    }

    public func revoke(id: String, actor: Actor) async throws {
        try await writer.write { db in
            guard try TokenRecord.deleteOne(db, key: id) else { throw TokenError.notFound(id) }
            try AuditEntry.record(db, actor: actor, action: "token.revoke", target: "token:\(id)", revision: nil)
        }
        try reload()
    }

    /// Start-up bootstrap: `CORSD_ADMIN_TOKEN` (or its file) creates or rotates the admin
    /// token named `bootstrap` (a rotation writes a `token.rotate` audit row); with no tokens at
    /// all and no such secret, one is created and its secret returned so `serve` can print it
    /// once.
    public func bootstrap(environmentSecret: String?) async throws -> String? {
        let actor = Actor(tokenName: "corsd", client: "startup")
        if let secret = environmentSecret, !secret.isEmpty {
            let hash = Self.hash(secret)
            let existed = try await writer.write { db -> Bool in
                guard var existing = try TokenRecord.filter(TokenRecord.Columns.name == "bootstrap").fetchOne(db) else { return false }
                guard existing.secretSHA256 != hash || existing.scope != .admin || existing.expiresAt != nil else { return true }
                existing.secretSHA256 = hash
                existing.scope = .admin
                existing.expiresAt = nil
                try existing.update(db)
                try AuditEntry.record(db, actor: actor, action: "token.rotate", target: "token:\(existing.id)", revision: nil)
                return true
            }
            if existed { try reload() } else { _ = try await create(name: "bootstrap", scope: "admin", actor: actor, secret: secret) }
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

import CorsdBase
import CorsdModel
import Foundation
import GRDB

/// Who made a change: the token's name and the client's address, for revisions and audit.
public struct Actor: Sendable, Equatable {
    public var tokenName: String
    public var client: String

    public init(tokenName: String, client: String) {
        self.tokenName = tokenName
        self.client = client
    }
}

/// A row of `deployments`: the current document and its bookkeeping. `revision` is its ETag.
public struct StoredDeployment: Sendable, Equatable, Codable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "deployments"
    /// Documents are stored as JSON text with corsd's one encoder configuration.
    public static func databaseJSONEncoder(for column: String) -> JSONEncoder { JSONCoding.encoder() }
    public var name: String
    public var revision: Int
    public var deployment: Deployment
    public var createdAt: String
    public var updatedAt: String

    enum CodingKeys: String, CodingKey {
        case name, revision
        case deployment = "document"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    public enum Columns {
        public static let name = Column(CodingKeys.name)
    }
}

/// What a revision records.
public enum RevisionAction: String, Sendable, Codable, DatabaseValueConvertible {
    case create, update, delete, restore
}

/// A row of `revisions`: a full snapshot per change (for `delete`, the deployment as deleted).
public struct RevisionRecord: Sendable, Equatable, Codable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "revisions"
    public static func databaseJSONEncoder(for column: String) -> JSONEncoder { JSONCoding.encoder() }
    public var deploymentName: String
    public var revision: Int
    public var action: RevisionAction
    public var deployment: Deployment
    public var author: String
    public var createdAt: String

    enum CodingKeys: String, CodingKey {
        case deploymentName = "deployment"
        case revision, action
        case deployment = "document"
        case author
        case createdAt = "created_at"
    }

    public enum Columns {
        public static let deploymentName = Column(CodingKeys.deploymentName)
        public static let revision = Column(CodingKeys.revision)
    }

    public var summary: RevisionSummary { RevisionSummary(revision: revision, action: action, author: author, createdAt: createdAt) }
}

/// A revision without its snapshot, as listed.
public struct RevisionSummary: Sendable, Equatable, Codable {
    public var revision: Int
    public var action: RevisionAction
    public var author: String
    public var createdAt: String

    enum CodingKeys: String, CodingKey {
        case revision, action, author
        case createdAt = "created_at"
    }
}

extension RevisionSummary: FetchableRecord, TableRecord {
    public static let databaseTableName = RevisionRecord.databaseTableName
    public static var databaseSelection: [any SQLSelectable] {
        [Column(CodingKeys.revision), Column(CodingKeys.action), Column(CodingKeys.author), Column(CodingKeys.createdAt)]
    }
}

/// A row of `audit`: who did what to which target, when.
public struct AuditEntry: Sendable, Equatable, Codable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "audit"
    public var id: Int64?
    public var at: String
    public var tokenName: String
    public var action: String
    public var target: String
    public var revision: Int?
    public var client: String

    enum CodingKeys: String, CodingKey {
        case id, at, action, target, revision, client
        case tokenName = "token_name"
    }

    public enum Columns {
        public static let id = Column(CodingKeys.id)
        public static let at = Column(CodingKeys.at)
        public static let target = Column(CodingKeys.target)
    }

    init(actor: Actor, action: String, target: String, revision: Int?, at: String) {
        self.at = at
        self.tokenName = actor.tokenName
        self.action = action
        self.target = target
        self.revision = revision
        self.client = actor.client
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    /// Appends an entry in the caller's transaction.
    static func record(_ db: Database, actor: Actor, action: String, target: String, revision: Int?, at: String = Timestamp.now()) throws {
        var entry = AuditEntry(actor: actor, action: action, target: target, revision: revision, at: at)
        try entry.insert(db)
    }
}

/// A row of `tokens`: the secret only as its SHA-256.
struct TokenRecord: Sendable, Equatable, Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "tokens"
    var id: String
    var name: String
    var scope: Scope
    var secretSHA256: Data
    var createdAt: String
    var expiresAt: String?
    var lastUsedAt: String?

    enum CodingKeys: String, CodingKey {
        case id, name, scope
        case secretSHA256 = "secret_sha256"
        case createdAt = "created_at"
        case expiresAt = "expires_at"
        case lastUsedAt = "last_used_at"
    }

    public enum Columns {
        public static let id = Column(CodingKeys.id)
        public static let name = Column(CodingKeys.name)
        public static let createdAt = Column(CodingKeys.createdAt)
    }

    var info: TokenInfo { TokenInfo(id: id, name: name, scope: scope, createdAt: createdAt, expiresAt: expiresAt, lastUsedAt: lastUsedAt) }
}

/// A token as listed and served: never its secret or hash.
public struct TokenInfo: Sendable, Equatable, Codable {
    public var id: String
    public var name: String
    public var scope: Scope
    public var createdAt: String
    /// nil: never expires.
    public var expiresAt: String?
    /// nil: never used (uses are written in batches, so this may lag by a minute).
    public var lastUsedAt: String?

    enum CodingKeys: String, CodingKey {
        case id, name, scope
        case createdAt = "created_at"
        case expiresAt = "expires_at"
        case lastUsedAt = "last_used_at"
    }
}

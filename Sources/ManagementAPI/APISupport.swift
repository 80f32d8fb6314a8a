import CorsdModel
import Foundation
import HTTPCore
import HTTPTypes
import Logging
import PolicyStore

/// What a route needs from the caller's token.
enum Permission {
    case admin
    case read
    /// Reading this one deployment (and its renders): `read`, `admin` or its `agent:` token.
    case readDeployment(String)

    func allows(_ scope: Scope) -> Bool {
        switch (self, scope) {
        case (_, .admin): return true
        case (.read, .read), (.readDeployment, .read): return true
        case (.readDeployment(let name), .agent(let allowed)): return name == allowed
        default: return false
        }
    }
}

/// A parsed `If-Match` (RFC 9110 §13.1.1).
enum IfMatch: Equatable {
    case absent
    /// `*`: the resource must exist.
    case any
    case revision(Int)
    /// Well-formed, but names none of our ETags (weak or not a revision): can never match.
    case unmatchable
    /// Not `*` nor a list of entity-tags.
    case malformed

    init(_ value: String?) {
        guard let value = value?.trimmingCharacters(in: .whitespaces) else { self = .absent; return }
        if value == "*" { self = .any; return }
        let tags = value.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard !value.isEmpty, tags.allSatisfy({ $0.wholeMatch(of: /(W\/)?"[^"]*"/) != nil }) else { self = .malformed; return }
        // Strong comparison: weak tags never match.
        self = tags.lazy.filter { !$0.hasPrefix("W/") }.compactMap(ETag.revision).first.map(IfMatch.revision) ?? .unmatchable
    }

    /// The revision to require, or nil for none; a malformed header is a 400 and a foreign
    /// tag a 412, before anything is read or written.
    func requiredRevision() throws -> Int? {
        switch self {
        case .absent, .any: return nil
        case .revision(let r): return r
        case .unmatchable: throw Problem(status: .preconditionFailed, detail: "If-Match names no revision of this deployment")
        case .malformed: throw Problem.field("If-Match", "if_match", "must be * or a list of entity-tags such as \"3\"")
        }
    }
}

/// Deployment ETags are their revision numbers, quoted: `"7"`.
enum ETag {
    static func of(revision: Int) -> String { "\"\(revision)\"" }

    static func revision(_ tag: String) -> Int? {
        var t = Substring(tag.trimmingCharacters(in: .whitespaces))
        if t.hasPrefix("W/") { t = t.dropFirst(2) }
        guard t.count >= 3, t.hasPrefix("\""), t.hasSuffix("\"") else { return nil }
        return Int(t.dropFirst().dropLast())
    }
}

extension Problem {
    static func invalid(_ issues: [FieldIssue], detail: String = "the request is invalid") -> Problem {
        Problem(status: .badRequest, detail: detail, errors: issues.map { .init(field: $0.field, rule: $0.rule, message: $0.message) })
    }

    static func field(_ field: String, _ rule: String, _ message: String) -> Problem {
        .invalid([FieldIssue(field: field, rule: rule, message: message)], detail: "\(field): \(message)")
    }
}

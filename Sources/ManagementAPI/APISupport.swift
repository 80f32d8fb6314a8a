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

extension HTTPField.Name {
    static let wwwAuthenticate = HTTPField.Name("WWW-Authenticate")!
    static let ifMatch = HTTPField.Name("If-Match")!
    static let ifNoneMatch = HTTPField.Name("If-None-Match")!
}

/// A parsed `If-Match`.
enum IfMatch: Equatable {
    case absent
    /// `*`: the resource must exist.
    case any
    case revision(Int)
    /// Not one of our ETags: can never match.
    case unmatchable

    init(_ value: String?) {
        guard let value = value?.trimmingCharacters(in: .whitespaces) else { self = .absent; return }
        if value == "*" { self = .any; return }
        self = ETag.revision(value).map(IfMatch.revision) ?? .unmatchable
    }

    var revision: Int? {
        if case .revision(let r) = self { return r }
        return nil
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

    /// Whether an `If-None-Match` list names `etag` (or is `*`).
    static func noneMatchHits(_ header: String?, _ etag: String) -> Bool {
        guard let header else { return false }
        return header.split(separator: ",").contains { item in
            var t = item.trimmingCharacters(in: .whitespaces)
            if t.hasPrefix("W/") { t.removeFirst(2) }
            return t == "*" || t == etag
        }
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

/// Encodes API bodies: snake_case keys come from the models' CodingKeys, keys sorted.
let apiEncoder: JSONEncoder = {
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return e
}()

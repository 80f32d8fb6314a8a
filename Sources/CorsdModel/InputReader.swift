import CorsdBase

/// The members of one JSON object of the input, read by the model's own `CodingKeys`, with
/// the object's path for messages. Unknown members are reported when it is made.
struct Fields<K: CodingKey & CaseIterable> {
    let members: [String: JSONValue]
    let prefix: String

    init(_ members: [String: JSONValue], at prefix: String, extra: [String] = [], _ r: inout Reader) {
        self.members = members
        self.prefix = prefix
        let known = K.allCases.map(\.stringValue)
        for key in members.keys.sorted() where !known.contains(key) && !extra.contains(key) {
            r.fail(prefix.isEmpty ? key : "\(prefix).\(key)", .unknownField, "is not a known field (known: \(known.joined(separator: ", ")))")
        }
    }

    subscript(_ key: K) -> JSONValue? { members[key.stringValue] }
    func path(_ key: K) -> String { prefix.isEmpty ? key.stringValue : "\(prefix).\(key.stringValue)" }
}

/// Reads typed values out of JSON, collecting errors with their paths.
struct Reader {
    var errors: [FieldIssue] = []

    mutating func fail(_ field: String, _ rule: Rule, _ message: String) {
        errors.append(FieldIssue(field: field, rule: rule, message: message))
    }

    mutating func typeError(_ value: JSONValue, _ expected: String, at path: String) {
        fail(path, .type, "must be \(expected), not \(value.typeName)")
    }

    mutating func string<K>(_ fields: Fields<K>, _ key: K) -> String? { string(fields[key], at: fields.path(key)) }
    mutating func bool<K>(_ fields: Fields<K>, _ key: K) -> Bool? { bool(fields[key], at: fields.path(key)) }
    mutating func integer<K>(_ fields: Fields<K>, _ key: K) -> Int? { integer(fields[key], at: fields.path(key)) }
    mutating func array<K>(_ fields: Fields<K>, _ key: K) -> [JSONValue]? { fields[key].flatMap { array($0, at: fields.path(key)) } }
    mutating func stringList<K>(_ fields: Fields<K>, _ key: K) -> [String]? { stringList(fields[key], at: fields.path(key)) }

    /// The nested object at `key`, read by its own keys.
    mutating func object<K, N>(_ fields: Fields<K>, _ key: K, as: N.Type = N.self) -> Fields<N>? {
        fields[key].flatMap { object($0, N.self, at: fields.path(key)) }
    }

    mutating func object<N>(_ value: JSONValue, _ keys: N.Type, at path: String) -> Fields<N>? {
        guard case .object(let o) = value else { typeError(value, "an object", at: path); return nil }
        return Fields<N>(o, at: path, &self)
    }

    mutating func string(_ value: JSONValue?, at path: String) -> String? {
        guard let value else { return nil }
        guard case .string(let s) = value else { typeError(value, "a string", at: path); return nil }
        if let bad = s.unicodeScalars.first(where: isForbiddenScalar) {
            fail(path, .noControlCharacters, "must not contain control characters (found U+\(String(bad.value, radix: 16, uppercase: true)))")
            return nil
        }
        return s
    }

    mutating func bool(_ value: JSONValue?, at path: String) -> Bool? {
        guard let value else { return nil }
        guard case .bool(let b) = value else { typeError(value, "true or false", at: path); return nil }
        return b
    }

    mutating func integer(_ value: JSONValue?, at path: String) -> Int? {
        guard let value else { return nil }
        guard case .number(let n) = value, n == n.rounded(), abs(n) < 1e15 else { typeError(value, "an integer", at: path); return nil }
        return Int(n)
    }

    mutating func array(_ value: JSONValue, at path: String) -> [JSONValue]? {
        guard case .array(let a) = value else { typeError(value, "an array", at: path); return nil }
        if a.count > 1000 { fail(path, .maxItems, "must have at most 1000 items"); return nil }
        return a
    }

    mutating func stringList(_ value: JSONValue?, at path: String) -> [String]? {
        guard let value, let items = array(value, at: path) else { return nil }
        var out: [String] = []
        var ok = true
        for (i, item) in items.enumerated() {
            if let s = string(item, at: "\(path)[\(i)]") { out.append(s) } else { ok = false }
        }
        return ok ? out : nil
    }
}

extension UpstreamURL {
    /// Stands in while a deployment with an invalid upstream is being checked; never stored.
    static let placeholder = UpstreamURL(scheme: "http", host: "invalid", port: 80, pathPrefix: "")
}

/// C0 and C1 controls, DEL and the Unicode line/paragraph separators: nothing that could end a
/// line in a rendered file or a terminal.
public func isForbiddenScalar(_ s: Unicode.Scalar) -> Bool {
    s.value < 0x20 || (0x7F...0x9F).contains(s.value) || s.value == 0x2028 || s.value == 0x2029
}

/// A small JSON object input (an API body other than a deployment), read by `K`'s keys with the
/// same rules as deployments: unknown members refused, strings free of control characters,
/// every problem named by field and rule.
public struct InputObject<K: CodingKey & CaseIterable> {
    private let fields: Fields<K>
    private var reader = Reader()

    public init(_ json: JSONValue) throws(ValidationFailure) {
        guard case .object(let members) = json else {
            throw ValidationFailure([FieldIssue(field: "", rule: .type, message: "the body must be a JSON object with the members \(K.allCases.map(\.stringValue).joined(separator: ", "))")])
        }
        fields = Fields<K>(members, at: "", &reader)
        if !reader.errors.isEmpty { throw ValidationFailure(reader.errors) }
    }

    /// A string member; nil when absent (or null, if `nullable`) unless `required`.
    public mutating func string(_ key: K, required: Bool = false, nullable: Bool = true) throws(ValidationFailure) -> String? {
        if fields[key] == nil || (!required && nullable && fields[key] == .null) {
            guard !required else { throw ValidationFailure([FieldIssue(field: fields.path(key), rule: .required, message: "is required")]) }
            return nil
        }
        let value = reader.string(fields, key)
        if !reader.errors.isEmpty { throw ValidationFailure(reader.errors) }
        return value
    }

    /// An integer member; nil when absent (null is a type error).
    public mutating func integer(_ key: K) throws(ValidationFailure) -> Int? {
        guard let value = fields[key] else { return nil }
        let n = reader.integer(value, at: fields.path(key))
        if !reader.errors.isEmpty { throw ValidationFailure(reader.errors) }
        return n
    }

    /// An object of strings (at most `maxCount` members, each key and value a string without
    /// control characters); nil when absent unless `required`.
    public mutating func stringMap(_ key: K, required: Bool = false, maxCount: Int) throws(ValidationFailure) -> [String: String]? {
        let path = fields.path(key)
        guard let value = fields[key] else {
            guard !required else { throw ValidationFailure([FieldIssue(field: path, rule: .required, message: "is required")]) }
            return nil
        }
        guard case .object(let members) = value else {
            throw ValidationFailure([FieldIssue(field: path, rule: .type, message: "must be an object of strings")])
        }
        guard members.count <= maxCount else {
            throw ValidationFailure([FieldIssue(field: path, rule: .maxItems, message: "must have at most \(maxCount) members")])
        }
        var map: [String: String] = [:]
        for (name, member) in members.sorted(by: { $0.key < $1.key }) {
            if name.unicodeScalars.contains(where: isForbiddenScalar) || name.isEmpty {
                reader.fail("\(path).\(name)", .noControlCharacters, "member names must be non-empty, without control characters")
            }
            if let text = reader.string(member, at: "\(path).\(name)") { map[name] = text }
        }
        if !reader.errors.isEmpty { throw ValidationFailure(reader.errors) }
        return map
    }
}

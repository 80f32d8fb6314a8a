import CORSPolicy

/// A problem with one field: its path (`cors.allowed_origins[2]`), the rule it broke and a
/// sentence for humans. Also used for warnings.
public struct FieldIssue: Sendable, Equatable, Codable, CustomStringConvertible {
    public var field: String
    public var rule: String
    public var message: String

    public init(field: String, rule: String, message: String) {
        self.field = field
        self.rule = rule
        self.message = message
    }

    public var description: String { "\(field): \(message) [\(rule)]" }
}

/// Every rule a value broke.
public struct ValidationFailure: Error, Equatable {
    public var issues: [FieldIssue]
    public init(_ issues: [FieldIssue]) { self.issues = issues }
}

/// A deployment that passed validation, with the warnings its policy earns.
public struct ValidatedDeployment: Sendable, Equatable {
    public var deployment: Deployment
    public var warnings: [FieldIssue]
}

/// Builds a `Deployment` from JSON input, checking every rule and reporting every broken one.
///
/// Missing fields take their defaults; unknown fields are errors (a typo must not pass
/// silently). Strings never contain control characters (C0, DEL, C1, U+2028/2029): nothing
/// stored can smuggle a line into a rendered file.
public enum DeploymentValidator {
    public static let namePattern = "^[a-z0-9][a-z0-9-]{0,62}$"
    public static let maxPreflightMaxAge = 86400 * 7

    /// The deployment name rule (a slug), shared by validation, routes and `agent:` scopes.
    public static func isValidName(_ name: String) -> Bool {
        name.wholeMatch(of: /[a-z0-9][a-z0-9-]{0,62}/) != nil
    }

    /// - Parameter pathName: the name from the URL (PUT); the body's `name`, if any, must equal it.
    public static func validate(_ json: JSONValue, pathName: String? = nil) -> Result<ValidatedDeployment, ValidationFailure> {
        var r = Reader()
        guard case .object(let top) = json else {
            return .failure(ValidationFailure([FieldIssue(field: "", rule: "type", message: "the body must be a JSON object")]))
        }
        r.rejectUnknown(top, known: Deployment.CodingKeys.allCases.map(\.rawValue), at: "")

        let name = r.string(top["name"], at: "name") ?? pathName
        if let name {
            if !isValidName(name) {
                r.fail("name", "slug", "must match \(namePattern): lower-case letters, digits and '-', at most 63 characters")
            } else if let pathName, pathName != name {
                r.fail("name", "immutable", "must equal the name in the URL ('\(pathName)'); a deployment cannot be renamed")
            }
        } else if top["name"] == nil {
            r.fail("name", "required", "is required")
        }
        var deployment = Deployment(name: name ?? "", upstream: "")
        if let description = r.string(top["description"], at: "description") {
            if description.count > 1000 { r.fail("description", "max_length", "must be at most 1000 characters") }
            deployment.description = description
        }
        if let upstream = r.string(top["upstream"], at: "upstream") {
            switch UpstreamURL.parse(upstream) {
            case .success(let url): deployment.upstream = url.serialized
            case .failure(let invalid): r.fail("upstream", "http_url", invalid.message)
            }
        } else if top["upstream"] == nil {
            r.fail("upstream", "required", "is required: the OMERO.web base URL, as in http://omero-web.internal:4080")
        }
        if let django = top["django"], let members = r.object(django, at: "django") {
            r.rejectUnknown(members, known: DjangoSettings.CodingKeys.allCases.map(\.rawValue), at: "django")
            if let version = r.string(members["cors_headers_version"], at: "django.cors_headers_version") {
                if version.wholeMatch(of: /[0-9]{1,3}\.[0-9]{1,3}(\.[0-9]{1,3})?/) == nil {
                    r.fail("django.cors_headers_version", "version", "must be a version number such as 3.7.0 or 4.9")
                } else {
                    deployment.django.corsHeadersVersion = version
                }
            }
        }
        if let cors = top["cors"] { deployment.cors = readCORS(cors, &r) }
        // A policy that names no headers gets its django-cors-headers version's defaults.
        var namesHeaders = false
        if case .object(let m)? = top["cors"] { namesHeaders = m["allow_headers"] != nil }
        if !namesHeaders && deployment.django.majorVersion < 4 { deployment.cors.allowHeaders = CORSSettings.defaultHeaders3x }
        if let allow = r.bool(top["allow_above_nr_open"], at: "allow_above_nr_open") { deployment.allowAboveNrOpen = allow }
        if let limits = top["limits"] { deployment.limits = readLimits(limits, allowAboveNrOpen: deployment.allowAboveNrOpen, &r) }
        if let units = top["systemd_units"] { deployment.systemdUnits = readUnits(units, &r) }
        if let host = top["public_host"], host != .null, let text = r.string(host, at: "public_host") {
            if Authority.isValid(text) { deployment.publicHost = text.lowercased() } else {
                r.fail("public_host", "authority", "must be a host name or address with an optional port, such as tiles.example.org or tiles.example.org:8443")
            }
        }
        if let cache = top["cache"], let m = r.object(cache, at: "cache") {
            r.rejectUnknown(m, known: TileCachePolicy.CodingKeys.allCases.map(\.rawValue), at: "cache")
            for key in TileCachePolicy.CodingKeys.allCases {
                guard let ttl = r.integer(m[key.rawValue], at: "cache.\(key.rawValue)") else { continue }
                guard (0...TileCachePolicy.maxTTL).contains(ttl) else {
                    r.fail("cache.\(key.rawValue)", "range", "must be from 0 (off) to \(TileCachePolicy.maxTTL) seconds (a year)")
                    continue
                }
                switch key {
                case .tilesTTL: deployment.cache.tilesTTL = ttl
                case .metadataTTL: deployment.cache.metadataTTL = ttl
                }
            }
        }
        guard r.errors.isEmpty else { return .failure(ValidationFailure(r.errors)) }
        return .success(ValidatedDeployment(deployment: deployment, warnings: warnings(for: deployment)))
    }

    private static func readCORS(_ json: JSONValue, _ r: inout Reader) -> CORSSettings {
        var cors = CORSSettings()
        guard let m = r.object(json, at: "cors") else { return cors }
        r.rejectUnknown(m, known: CORSSettings.CodingKeys.allCases.map(\.rawValue), at: "cors")
        if let v = r.bool(m["allow_all_origins"], at: "cors.allow_all_origins") { cors.allowAllOrigins = v }
        if let v = r.bool(m["allow_credentials"], at: "cors.allow_credentials") { cors.allowCredentials = v }
        if let v = r.bool(m["allow_private_network"], at: "cors.allow_private_network") { cors.allowPrivateNetwork = v }
        if let origins = r.stringList(m["allowed_origins"], at: "cors.allowed_origins") {
            var parsed: [Origin] = []
            for (i, text) in origins.enumerated() {
                do { parsed.append(try Origin(parsing: text)) } catch {
                    r.fail("cors.allowed_origins[\(i)]", "origin", "'\(text)' is not an origin: it \(error.description)")
                }
            }
            cors.allowedOrigins = unique(parsed)
        }
        if let patterns = r.stringList(m["allowed_origin_patterns"], at: "cors.allowed_origin_patterns") {
            var parsed: [OriginPattern] = []
            for (i, text) in patterns.enumerated() {
                do { parsed.append(try OriginPattern(parsing: text)) } catch {
                    r.fail("cors.allowed_origin_patterns[\(i)]", "pattern", "'\(text)': \(error.description)")
                }
            }
            cors.allowedOriginPatterns = unique(parsed)
        }
        if let methods = r.stringList(m["allow_methods"], at: "cors.allow_methods") {
            cors.allowMethods = unique(tokens(methods, at: "cors.allow_methods", &r).map { $0.uppercased() })
        }
        if let headers = r.stringList(m["allow_headers"], at: "cors.allow_headers") {
            cors.allowHeaders = unique(tokens(headers, at: "cors.allow_headers", &r).map { $0.lowercased() })
        }
        if let headers = r.stringList(m["expose_headers"], at: "cors.expose_headers") {
            cors.exposeHeaders = unique(tokens(headers, at: "cors.expose_headers", &r))
        }
        if let age = r.integer(m["preflight_max_age"], at: "cors.preflight_max_age") {
            if (0...maxPreflightMaxAge).contains(age) { cors.preflightMaxAge = age } else {
                r.fail("cors.preflight_max_age", "range", "must be from 0 to \(maxPreflightMaxAge) seconds (7 days)")
            }
        }
        if let text = r.string(m["urls_regex"], at: "cors.urls_regex") {
            do { cors.urlsRegex = try SubsetRegex(text) } catch {
                r.fail("cors.urls_regex", "pattern", "'\(text)' is not in corsd's pattern language: \(error)")
            }
        }
        if let mode = r.string(m["mode"], at: "cors.mode") {
            if let value = CORSMode(rawValue: mode) { cors.mode = value } else {
                r.fail("cors.mode", "enum", "must be one of: reject, compatible")
            }
        }
        return cors
    }

    /// `systemd_units`: `{"unit": "omero-web.service", "user": "omero-web"}` entries.
    private static func readUnits(_ json: JSONValue, _ r: inout Reader) -> [SystemdUnit] {
        guard let items = r.array(json, at: "systemd_units") else { return [] }
        var units: [SystemdUnit] = []
        for (i, item) in items.enumerated() {
            let path = "systemd_units[\(i)]"
            if case .string = item {
                r.fail(path, "type", "must be an object such as {\"unit\": \"omero-web.service\", \"user\": \"omero-web\"}: the user the unit runs as picks its limits")
                continue
            }
            guard let m = r.object(item, at: path) else { continue }
            r.rejectUnknown(m, known: ["unit", "user"], at: path)
            for key in ["unit", "user"] where m[key] == nil { r.fail("\(path).\(key)", "required", "is required") }
            let unit = r.string(m["unit"], at: "\(path).unit")
            let user = r.string(m["user"], at: "\(path).user")
            if let unit {
                if !SystemdUnitName.isValid(unit) {
                    r.fail("\(path).unit", "unit_name", SystemdUnitName.rule)
                } else if SystemdUnitName.section(of: unit) == nil {
                    r.fail("\(path).unit", "unit_type", "a unit of this type takes no LimitNOFILE=: use a .service, .socket, .mount or .swap unit")
                } else if units.contains(where: { $0.unit == unit }) {
                    r.fail("\(path).unit", "duplicate", "\(unit) is already listed")
                }
            }
            if let user, !LimitsDomain.isName(user.utf8) { r.fail("\(path).user", "user_name", "must be a user name such as omero-web") }
            if let unit, let user { units.append(SystemdUnit(unit: unit, user: user)) }
        }
        return units
    }

    /// HTTP tokens (RFC 9110 §5.6.2): method and header names.
    private static func tokens(_ values: [String], at path: String, _ r: inout Reader) -> [String] {
        values.enumerated().compactMap { i, v in
            if !v.isEmpty && v.utf8.allSatisfy(isTokenByte) { return v }
            r.fail("\(path)[\(i)]", "token", "'\(v)' is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~)")
            return nil
        }
    }

    private static func readLimits(_ json: JSONValue, allowAboveNrOpen: Bool, _ r: inout Reader) -> [LimitEntry] {
        guard let items = r.array(json, at: "limits") else { return [] }
        var entries: [(Int, LimitEntry)] = []
        for (i, item) in items.enumerated() {
            let path = "limits[\(i)]"
            guard let m = r.object(item, at: path) else { continue }
            r.rejectUnknown(m, known: ["domain", "type", "item", "value"], at: path)
            let domain = r.string(m["domain"], at: "\(path).domain")
            let type = r.string(m["type"], at: "\(path).type")
            let itemName = r.string(m["item"], at: "\(path).item")
            for key in ["domain", "type", "item", "value"] where m[key] == nil {
                r.fail("\(path).\(key)", "required", "is required")
            }
            let knownItem = itemName.map { LimitEntry.items.contains($0) } ?? false
            if let domain, !LimitsDomain.isValid(domain, item: knownItem ? itemName : nil) {
                r.fail("\(path).domain", "limits_domain", LimitsDomain.rule)
            }
            let kind = type.flatMap(LimitEntry.Kind.init(rawValue:))
            if type != nil && kind == nil { r.fail("\(path).type", "limits_type", "must be soft, hard or -") }
            if let itemName, !knownItem {
                let why = itemName == "chroot" ? "chroot takes a directory, not a limit, and is not managed by corsd; " : itemName == "rttime" ? "Debian 12's pam_limits has no rttime; " : ""
                r.fail("\(path).item", "limits_item", why + "must be one of pam_limits' items: \(LimitEntry.items.sorted().joined(separator: ", "))")
            }
            let value = readLimitValue(m["value"], item: knownItem ? itemName : nil, at: "\(path).value", &r)
            if itemName == "nofile", case .number(let n)? = value {
                if n < LimitEntry.minimumNofile {
                    r.fail("\(path).value", "nofile_min", "nofile below \(LimitEntry.minimumNofile) starves OMERO.web of descriptors; OMERO suggests at least 8192")
                } else if n > LimitEntry.nrOpenDefault, !allowAboveNrOpen {
                    r.fail("\(path).value", "nr_open", "nofile above \(LimitEntry.nrOpenDefault) (fs.nr_open's default) is refused by the kernel; set allow_above_nr_open if the host raised fs.nr_open")
                }
            }
            if let domain, let kind, let itemName, let value {
                entries.append((i, LimitEntry(domain: domain, type: kind, item: itemName, value: value)))
            }
        }
        // One soft and one hard value per (domain, item), and soft ≤ hard.
        var soft: [String: (Int, LimitEntry.Value)] = [:], hard: [String: (Int, LimitEntry.Value)] = [:]
        for (i, e) in entries {
            let key = "\(e.domain) \(e.item)"
            if e.type != .hard {
                if soft[key] != nil { r.fail("limits[\(i)]", "duplicate", "a soft value for \(e.domain) \(e.item) is already set") }
                soft[key] = (i, e.value)
            }
            if e.type != .soft {
                if hard[key] != nil { r.fail("limits[\(i)]", "duplicate", "a hard value for \(e.domain) \(e.item) is already set") }
                hard[key] = (i, e.value)
            }
        }
        for (key, (i, s)) in soft {
            if let (_, h) = hard[key], h < s {
                r.fail("limits[\(i)].value", "soft_le_hard", "the soft limit for \(key) (\(s)) is above its hard limit (\(h))")
            }
        }
        return entries.map(\.1)
    }

    /// A limit value: an integer, or unlimited (`-1`, `unlimited`, `infinity`) where the item
    /// takes it; nice, priority and nonewprivs are bounded (limits.conf(5)).
    private static func readLimitValue(_ json: JSONValue?, item: String?, at path: String, _ r: inout Reader) -> LimitEntry.Value? {
        let bounds = item.flatMap { LimitEntry.boundedItems[$0] }
        var value: LimitEntry.Value?
        switch json {
        case nil: return nil
        case .string(let s)? where ["unlimited", "infinity", "-1"].contains(s): value = .unlimited
        case .number(-1)? where bounds == nil: value = .unlimited
        case .number(let n)? where n == n.rounded() && abs(n) <= 9.2e18: value = .number(Int(n))
        case .string(let s)?: value = Int(s).map(LimitEntry.Value.number)
        default: break
        }
        if let bounds {
            guard case .number(let n)? = value, bounds.contains(n) else {
                r.fail(path, "limits_value", "\(item ?? "") takes an integer from \(bounds.lowerBound) to \(bounds.upperBound)")
                return nil
            }
        } else if case .number(let n)? = value, n < 0 {
            value = nil
        }
        if value == nil { r.fail(path, "limits_value", "must be an integer ≥ 0 or \"unlimited\"") }
        return value
    }

    /// Risky but legal combinations, returned with every write.
    public static func warnings(for d: Deployment) -> [FieldIssue] {
        var w: [FieldIssue] = []
        if d.cors.allowAllOrigins && d.cors.allowCredentials {
            w.append(FieldIssue(field: "cors.allow_all_origins", rule: "allow_all_with_credentials",
                                message: "any site can make credentialed requests and read the responses (logged-in users' data)"))
        }
        if d.cors.allowedOrigins.contains(.null) {
            w.append(FieldIssue(field: "cors.allowed_origins", rule: "null_origin",
                                message: "'null' is the origin of sandboxed iframes and file:// pages: any site can produce it"))
        }
        if d.upstream.hasPrefix("https://") {
            for (i, o) in d.cors.allowedOrigins.enumerated() where o.scheme == "http" {
                w.append(FieldIssue(field: "cors.allowed_origins[\(i)]", rule: "insecure_origin",
                                    message: "\(o) is plain http while the upstream is https"))
            }
        }
        return w
    }

    private static func unique<T: Hashable>(_ values: [T]) -> [T] {
        var seen = Set<T>()
        return values.filter { seen.insert($0).inserted }
    }
}

/// tchar (RFC 9110 §5.6.2).
func isTokenByte(_ b: UInt8) -> Bool {
    switch b {
    case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
    case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E: return true
    default: return false
    }
}

/// Reads typed values out of JSON, collecting errors with their paths.
struct Reader {
    var errors: [FieldIssue] = []

    mutating func fail(_ field: String, _ rule: String, _ message: String) {
        errors.append(FieldIssue(field: field, rule: rule, message: message))
    }

    mutating func rejectUnknown(_ members: [String: JSONValue], known: [String], at path: String) {
        for key in members.keys.sorted() where !known.contains(key) {
            fail(path.isEmpty ? key : "\(path).\(key)", "unknown_field", "is not a known field (known: \(known.joined(separator: ", ")))")
        }
    }

    mutating func typeError(_ value: JSONValue, _ expected: String, at path: String) {
        fail(path, "type", "must be \(expected), not \(value.typeName)")
    }

    mutating func string(_ value: JSONValue?, at path: String) -> String? {
        guard let value else { return nil }
        guard case .string(let s) = value else { typeError(value, "a string", at: path); return nil }
        if let bad = s.unicodeScalars.first(where: isForbiddenScalar) {
            fail(path, "no_control_characters", "must not contain control characters (found U+\(String(bad.value, radix: 16, uppercase: true)))")
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

    mutating func object(_ value: JSONValue, at path: String) -> [String: JSONValue]? {
        guard case .object(let o) = value else { typeError(value, "an object", at: path); return nil }
        return o
    }

    mutating func array(_ value: JSONValue, at path: String) -> [JSONValue]? {
        guard case .array(let a) = value else { typeError(value, "an array", at: path); return nil }
        if a.count > 1000 { fail(path, "max_items", "must have at most 1000 items"); return nil }
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

/// C0 and C1 controls, DEL and the Unicode line/paragraph separators: nothing that could end a
/// line in a rendered file or a terminal.
public func isForbiddenScalar(_ s: Unicode.Scalar) -> Bool {
    s.value < 0x20 || (0x7F...0x9F).contains(s.value) || s.value == 0x2028 || s.value == 0x2029
}

import CORSPolicy
@_exported import CorsdBase

/// A deployment that passed validation, with the warnings its policy earns.
public struct ValidatedDeployment: Sendable, Equatable {
    public var deployment: Deployment
    public var warnings: [FieldIssue]
}

/// Builds a `Deployment` from JSON input, checking every rule and reporting every broken one:
/// the only decoder of a deployment from outside (API bodies, `render --input`, `apply` files).
///
/// Field names are the model's own `CodingKeys`. Missing fields take their defaults; unknown
/// fields are errors (a typo must not pass silently); the read-only fields a GET adds
/// (`revision`, `created_at`, `updated_at`, `warnings`) are ignored, so what was read can be
/// written back. Strings never contain control characters (C0, DEL, C1, U+2028/2029): nothing
/// stored can smuggle a line into a rendered file.
public enum DeploymentValidator {
    public static let namePattern = "^[a-z0-9][a-z0-9-]{0,62}$"
    public static let maxPreflightMaxAge = 86400 * 7
    public static let maxDescriptionLength = 1000
    /// The members a response adds to a deployment; accepted on input and ignored.
    public static let readOnlyFields = ["revision", "created_at", "updated_at", "warnings"]

    /// The deployment name rule (a slug), shared by validation, routes and `agent:` scopes.
    public static func isValidName(_ name: String) -> Bool {
        name.wholeMatch(of: /[a-z0-9][a-z0-9-]{0,62}/) != nil
    }

    /// - Parameter pathName: the name from the URL (PUT); the body's `name`, if any, must equal it.
    public static func validate(_ json: JSONValue, pathName: String? = nil) -> Result<ValidatedDeployment, ValidationFailure> {
        typealias K = Deployment.CodingKeys
        var r = Reader()
        guard case .object(let members) = json else {
            return .failure(ValidationFailure([FieldIssue(field: "", rule: .type, message: "the body must be a JSON object")]))
        }
        let top = Fields<K>(members, at: "", extra: readOnlyFields, &r)

        let name = r.string(top, .name) ?? pathName
        if let name {
            if !isValidName(name) {
                r.fail(top.path(.name), .slug, "must match \(namePattern): lower-case letters, digits and '-', at most 63 characters")
            } else if let pathName, pathName != name {
                r.fail(top.path(.name), .immutable, "must equal the name in the URL ('\(pathName)'); a deployment cannot be renamed")
            }
        } else if top[.name] == nil {
            r.fail(top.path(.name), .required, "is required")
        }
        var upstream: UpstreamURL?
        if let text = r.string(top, .upstream) {
            switch UpstreamURL.parse(text) {
            case .success(let url): upstream = url
            case .failure(let invalid): r.fail(top.path(.upstream), .httpURL, invalid.message)
            }
        } else if top[.upstream] == nil {
            r.fail(top.path(.upstream), .required, "is required: the OMERO.web base URL, as in http://omero-web.internal:4080")
        }
        var deployment = Deployment(name: name ?? "", upstream: upstream ?? .placeholder)
        if let description = r.string(top, .description) {
            if description.unicodeScalars.count > maxDescriptionLength {
                r.fail(top.path(.description), .maxLength, "must be at most \(maxDescriptionLength) characters (Unicode scalars)")
            }
            deployment.description = description
        }
        if let django = r.object(top, .django, as: DjangoSettings.CodingKeys.self) {
            if let version = r.string(django, .corsHeadersVersion) {
                if version.wholeMatch(of: /[0-9]{1,3}\.[0-9]{1,3}(\.[0-9]{1,3})?/) == nil {
                    r.fail(django.path(.corsHeadersVersion), .version, "must be a version number such as 3.7.0 or 4.9")
                } else {
                    deployment.django.corsHeadersVersion = version
                }
            }
        }
        if let cors = r.object(top, .cors, as: CORSSettings.CodingKeys.self) { deployment.cors = readCORS(cors, &r) }
        // A policy that names no headers gets its django-cors-headers version's defaults.
        if case .object(let m)? = top[.cors], m[CORSSettings.CodingKeys.allowHeaders.stringValue] != nil {} else if deployment.django.majorVersion < 4 {
            deployment.cors.allowHeaders = CORSSettings.defaultHeaders3x
        }
        if let allow = r.bool(top, .allowAboveNrOpen) { deployment.allowAboveNrOpen = allow }
        if let limits = r.array(top, .limits) { deployment.limits = readLimits(limits, at: top.path(.limits), allowAboveNrOpen: deployment.allowAboveNrOpen, &r) }
        if let units = r.array(top, .systemdUnits) { deployment.systemdUnits = readUnits(units, at: top.path(.systemdUnits), &r) }
        if top[.publicHost] != .null, let text = r.string(top, .publicHost) {
            if Authority.isValid(text) { deployment.publicHost = text.lowercased() } else {
                r.fail(top.path(.publicHost), .authority, "must be a host name or address with an optional port, such as tiles.example.org or tiles.example.org:8443")
            }
        }
        if let cache = r.object(top, .cache, as: TileCachePolicy.CodingKeys.self) {
            for key in TileCachePolicy.CodingKeys.allCases {
                guard let ttl = r.integer(cache, key) else { continue }
                guard (0...TileCachePolicy.maxTTL).contains(ttl) else {
                    r.fail(cache.path(key), .range, "must be from 0 (off) to \(TileCachePolicy.maxTTL) seconds (a year)")
                    continue
                }
                switch key {
                case .tilesTTL: deployment.cache.tilesTTL = ttl
                case .metadataTTL: deployment.cache.metadataTTL = ttl
                }
            }
        }
        if let value = top[.upstreamCA], value != .null {
            // PEM is multi-line: not read as a one-line string.
            if case .string(let pem) = value {
                if let problem = PEMCertificates.problem(in: pem) {
                    r.fail(top.path(.upstreamCA), .pemCertificates, problem)
                } else if upstream?.scheme == "http" {
                    r.fail(top.path(.upstreamCA), .httpsUpstream, "is only used with an https:// upstream; this upstream is plain http")
                } else {
                    deployment.upstreamCA = pem
                }
            } else {
                r.fail(top.path(.upstreamCA), .type, "must be a string of PEM certificates, or null")
            }
        }
        guard r.errors.isEmpty else { return .failure(ValidationFailure(r.errors)) }
        return .success(ValidatedDeployment(deployment: deployment, warnings: warnings(for: deployment)))
    }

    private static func readCORS(_ m: Fields<CORSSettings.CodingKeys>, _ r: inout Reader) -> CORSSettings {
        var cors = CORSSettings()
        if let v = r.bool(m, .allowAllOrigins) { cors.allowAllOrigins = v }
        if let v = r.bool(m, .allowCredentials) { cors.allowCredentials = v }
        if let v = r.bool(m, .allowPrivateNetwork) { cors.allowPrivateNetwork = v }
        if let origins = r.stringList(m, .allowedOrigins) {
            var parsed: [Origin] = []
            for (i, text) in origins.enumerated() {
                do { parsed.append(try Origin(parsing: text)) } catch {
                    r.fail("\(m.path(.allowedOrigins))[\(i)]", .origin, "'\(text)' is not an origin: it \(error.description)")
                }
            }
            cors.allowedOrigins = unique(parsed)
        }
        if let patterns = r.stringList(m, .allowedOriginPatterns) {
            var parsed: [OriginPattern] = []
            for (i, text) in patterns.enumerated() {
                do { parsed.append(try OriginPattern(parsing: text)) } catch {
                    r.fail("\(m.path(.allowedOriginPatterns))[\(i)]", .pattern, "'\(text)': \(error.description)")
                }
            }
            cors.allowedOriginPatterns = unique(parsed)
        }
        if let methods = r.stringList(m, .allowMethods) {
            cors.allowMethods = unique(tokens(methods, at: m.path(.allowMethods), &r).map { $0.uppercased() })
        }
        if let headers = r.stringList(m, .allowHeaders) {
            cors.allowHeaders = unique(tokens(headers, at: m.path(.allowHeaders), &r).map { $0.lowercased() })
        }
        if let headers = r.stringList(m, .exposeHeaders) {
            cors.exposeHeaders = unique(tokens(headers, at: m.path(.exposeHeaders), &r))
        }
        if let age = r.integer(m, .preflightMaxAge) {
            if (0...maxPreflightMaxAge).contains(age) { cors.preflightMaxAge = age } else {
                r.fail(m.path(.preflightMaxAge), .range, "must be from 0 to \(maxPreflightMaxAge) seconds (7 days)")
            }
        }
        if let text = r.string(m, .urlsRegex) {
            do { cors.urlsRegex = try SubsetRegex(text) } catch {
                r.fail(m.path(.urlsRegex), .pattern, "'\(text)' is not in corsd's pattern language: \(error)")
            }
        }
        if let mode = r.string(m, .mode) {
            if let value = CORSMode(rawValue: mode) { cors.mode = value } else {
                r.fail(m.path(.mode), .enum, "must be one of: \(CORSMode.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }
        return cors
    }

    /// `systemd_units`: `{"unit": "omero-web.service", "user": "omero-web"}` entries.
    private static func readUnits(_ items: [JSONValue], at path: String, _ r: inout Reader) -> [SystemdUnit] {
        var units: [SystemdUnit] = []
        for (i, item) in items.enumerated() {
            let itemPath = "\(path)[\(i)]"
            if case .string = item {
                r.fail(itemPath, .type, "must be an object such as {\"unit\": \"omero-web.service\", \"user\": \"omero-web\"}: the user the unit runs as picks its limits")
                continue
            }
            guard let m = r.object(item, SystemdUnit.CodingKeys.self, at: itemPath) else { continue }
            for key in SystemdUnit.CodingKeys.allCases where m[key] == nil { r.fail(m.path(key), .required, "is required") }
            let unit = r.string(m, .unit)
            let user = r.string(m, .user)
            if let unit {
                if !SystemdUnitName.isValid(unit) {
                    r.fail(m.path(.unit), .unitName, SystemdUnitName.rule)
                } else if SystemdUnitName.section(of: unit) == nil {
                    r.fail(m.path(.unit), .unitType, "a unit of this type takes no LimitNOFILE=: use a .service, .socket, .mount or .swap unit")
                } else if units.contains(where: { $0.unit == unit }) {
                    r.fail(m.path(.unit), .duplicate, "\(unit) is already listed")
                }
            }
            if let user, !LimitsDomain.isName(user.utf8) { r.fail(m.path(.user), .userName, "must be a user name such as omero-web") }
            if let unit, let user { units.append(SystemdUnit(unit: unit, user: user)) }
        }
        return units
    }

    /// HTTP tokens (RFC 9110 §5.6.2): method and header names.
    private static func tokens(_ values: [String], at path: String, _ r: inout Reader) -> [String] {
        values.enumerated().compactMap { i, v in
            if isToken(v) { return v }
            r.fail("\(path)[\(i)]", .token, "'\(v)' is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~)")
            return nil
        }
    }

    private static func readLimits(_ items: [JSONValue], at path: String, allowAboveNrOpen: Bool, _ r: inout Reader) -> [LimitEntry] {
        var entries: [(Int, LimitEntry)] = []
        for (i, item) in items.enumerated() {
            let itemPath = "\(path)[\(i)]"
            guard let m = r.object(item, LimitEntry.CodingKeys.self, at: itemPath) else { continue }
            let domain = r.string(m, .domain)
            let type = r.string(m, .type)
            let itemName = r.string(m, .item)
            for key in LimitEntry.CodingKeys.allCases where m[key] == nil { r.fail(m.path(key), .required, "is required") }
            let knownItem = itemName.map { LimitEntry.items.contains($0) } ?? false
            if let domain, !LimitsDomain.isValid(domain, item: knownItem ? itemName : nil) {
                r.fail(m.path(.domain), .limitsDomain, LimitsDomain.rule)
            }
            let kind = type.flatMap(LimitEntry.Kind.init(rawValue:))
            if type != nil && kind == nil { r.fail(m.path(.type), .limitsType, "must be soft, hard or -") }
            if let itemName, !knownItem {
                let why = itemName == "chroot" ? "chroot takes a directory, not a limit, and is not managed by corsd; " : itemName == "rttime" ? "Debian 12's pam_limits has no rttime; " : ""
                r.fail(m.path(.item), .limitsItem, why + "must be one of pam_limits' items: \(LimitEntry.items.sorted().joined(separator: ", "))")
            }
            let value = readLimitValue(m[.value], item: knownItem ? itemName : nil, at: m.path(.value), &r)
            if itemName == "nofile", case .number(let n)? = value {
                if n < LimitEntry.minimumNofile {
                    r.fail(m.path(.value), .nofileMin, "nofile below \(LimitEntry.minimumNofile) starves OMERO.web of descriptors; OMERO suggests at least 8192")
                } else if n > LimitEntry.nrOpenDefault, !allowAboveNrOpen {
                    r.fail(m.path(.value), .nrOpen, "nofile above \(LimitEntry.nrOpenDefault) (fs.nr_open's default) is refused by the kernel; set allow_above_nr_open if the host raised fs.nr_open")
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
                if soft[key] != nil { r.fail("\(path)[\(i)]", .duplicate, "a soft value for \(e.domain) \(e.item) is already set") }
                soft[key] = (i, e.value)
            }
            if e.type != .soft {
                if hard[key] != nil { r.fail("\(path)[\(i)]", .duplicate, "a hard value for \(e.domain) \(e.item) is already set") }
                hard[key] = (i, e.value)
            }
        }
        for (key, (i, s)) in soft.sorted(by: { $0.value.0 < $1.value.0 }) {
            if let (_, h) = hard[key], h < s {
                r.fail("\(path)[\(i)].value", .softLEHard, "the soft limit for \(key) (\(s)) is above its hard limit (\(h))")
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
                r.fail(path, .limitsValue, "\(item ?? "") takes an integer from \(bounds.lowerBound) to \(bounds.upperBound)")
                return nil
            }
        } else if case .number(let n)? = value, n < 0 {
            value = nil
        }
        if value == nil { r.fail(path, .limitsValue, "must be an integer ≥ 0 or \"unlimited\"") }
        return value
    }

    /// Risky but legal combinations, returned with every write.
    public static func warnings(for d: Deployment) -> [FieldIssue] {
        typealias C = CORSSettings.CodingKeys
        let cors = Deployment.CodingKeys.cors.stringValue
        var w: [FieldIssue] = []
        if d.cors.allowAllOrigins && d.cors.allowCredentials {
            w.append(FieldIssue(field: "\(cors).\(C.allowAllOrigins.stringValue)", rule: .allowAllWithCredentials,
                                message: "any site can make credentialed requests and read the responses (logged-in users' data)"))
        }
        if d.cors.allowedOrigins.contains(.null) {
            w.append(FieldIssue(field: "\(cors).\(C.allowedOrigins.stringValue)", rule: .nullOrigin,
                                message: "'null' is the origin of sandboxed iframes and file:// pages: any site can produce it"))
        }
        if d.upstream.scheme == "https" {
            for (i, o) in d.cors.allowedOrigins.enumerated() where o.scheme == "http" {
                w.append(FieldIssue(field: "\(cors).\(C.allowedOrigins.stringValue)[\(i)]", rule: .insecureOrigin,
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

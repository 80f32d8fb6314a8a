import CorsdBase
import HTTPTypes

/// The CORS-relevant parts of a request head.
public struct CORSRequest: Sendable, Equatable {
    /// The `Origin` field as sent, or nil.
    public var origin: String?
    /// The request method, as sent (`GET`, `OPTIONS`, …).
    public var method: String
    /// `Access-Control-Request-Method`; present (even empty) makes an OPTIONS a preflight.
    public var requestMethod: String?
    /// `Access-Control-Request-Headers`, as sent (several fields joined with commas).
    public var requestHeaders: String?
    /// `Access-Control-Request-Private-Network`.
    public var requestPrivateNetwork: String?

    public init(origin: String?, method: String, requestMethod: String? = nil, requestHeaders: String? = nil, requestPrivateNetwork: String? = nil) {
        self.origin = origin
        self.method = method
        self.requestMethod = requestMethod
        self.requestHeaders = requestHeaders
        self.requestPrivateNetwork = requestPrivateNetwork
    }

    /// Reads a request head.
    public init(method: HTTPRequest.Method, fields: HTTPFields) {
        let headers = fields[values: .accessControlRequestHeaders]
        self.init(origin: fields[.origin], method: method.rawValue, requestMethod: fields[.accessControlRequestMethod],
                  requestHeaders: headers.isEmpty ? nil : headers.joined(separator: ","),
                  requestPrivateNetwork: fields[.accessControlRequestPrivateNetwork])
    }

    /// django-cors-headers' definition: OPTIONS with an `Access-Control-Request-Method` field.
    public var isPreflight: Bool { method == "OPTIONS" && requestMethod != nil }
}

/// The rule that decided, for logs, metrics and the explain endpoint.
public enum CORSRule: Sendable, Hashable, CustomStringConvertible {
    case noOrigin, unparsableOrigin, originTooLong, originNotASCII, originNotAllowed
    case allowAllOrigins, allowedOrigins, nullListed
    /// Allowed by this pattern (its source).
    case allowedOriginPattern(String)
    case preflightMethodNotAllowed, preflightHeaderNotAllowed

    /// The rule without a pattern's source: a bounded label for metrics.
    public var category: String {
        if case .allowedOriginPattern = self { return "allowed_origin_patterns" }
        return description
    }

    /// snake_case, as reported by the API (`allowed_origin_patterns:<source>` for a pattern).
    public var description: String {
        switch self {
        case .noOrigin: return "no_origin"
        case .unparsableOrigin: return "unparsable_origin"
        case .originTooLong: return "origin_too_long"
        case .originNotASCII: return "origin_not_ascii"
        case .originNotAllowed: return "origin_not_allowed"
        case .allowAllOrigins: return "allow_all_origins"
        case .allowedOrigins: return "allowed_origins"
        case .nullListed: return "null_listed"
        case .allowedOriginPattern(let source): return "allowed_origin_patterns:\(source)"
        case .preflightMethodNotAllowed: return "preflight_method_not_allowed"
        case .preflightHeaderNotAllowed: return "preflight_header_not_allowed"
        }
    }
}

/// What to do with a request, and the exact CORS headers to send with the answer.
public struct CORSDecision: Sendable, Equatable {
    public enum Action: String, Sendable, Equatable {
        /// Serve the request (forward it) and add `headers` to the response.
        case serve
        /// A preflight: answer it here, 200 with an empty body and `headers`. Never forwarded.
        case answerPreflight
        /// `reject` mode: 403 problem+json with `headers` (just `Vary`); nothing forwarded.
        case refuse
    }

    public var action: Action
    /// Response fields in order.
    public var headers: HTTPFields
    public var rule: CORSRule
    /// Whether the origin is allowed (nil: no usable Origin, so CORS does not apply).
    public var originAllowed: Bool?
}

extension HTTPField.Name {
    /// Private Network Access (a Chrome draft): not among swift-http-types' names.
    public static let accessControlRequestPrivateNetwork = CORSFieldNames.requestPrivateNetwork
    public static let accessControlAllowPrivateNetwork = CORSFieldNames.allowPrivateNetwork
}

/// Field names built once from literals known to be valid tokens.
public enum CORSFieldNames {
    static let requestPrivateNetwork = name("Access-Control-Request-Private-Network")
    static let allowPrivateNetwork = name("Access-Control-Allow-Private-Network")

    public static func name(_ literal: String) -> HTTPField.Name {
        guard let name = HTTPField.Name(literal) else { preconditionFailure("\(literal) is a valid field name") }
        return name
    }
}

/// A deployment's CORS policy, compiled for per-request decisions: a pure function of
/// (policy, request head), with everything that can be precomputed done once here.
///
/// `compatible` mode is django-cors-headers 4.x rule for rule (domain brief §2), reading the
/// `Origin` value as it does (`DjangoOriginSplit`: `https://a.example/path` is the listed
/// `https://a.example`, an unsplittable value gets no CORS headers, allow-all echoes any
/// value). One documented difference: patterns match the whole origin (django's `re.match`
/// anchors only the start; corsd's rendered settings anchor them too, so a host behaves the
/// same). `reject` mode is stricter: only an origin sent in its exact serialised form can be
/// allowed; anything else is treated as absent.
///
/// In both modes, values longer than `Origin.maxLength` or with non-ASCII bytes are never
/// allowed: no browser sends them, and the cost of a decision stays bounded.
public struct CORSEngine: Sendable {
    public let settings: CORSSettings
    private let exactOrigins: Set<String>
    private let djangoOrigins: Set<DjangoOriginSplit>
    private let allowMethods: String
    private let allowHeaders: String
    private let exposeHeaders: String
    private let maxAge: String?
    private let methodSet: Set<String>
    private let headerSet: Set<String>

    public init(_ settings: CORSSettings) {
        self.settings = settings
        exactOrigins = Set(settings.allowedOrigins.map(\.serialized))
        djangoOrigins = Set(settings.allowedOrigins.compactMap { DjangoOriginSplit($0.serialized) })
        allowMethods = settings.allowMethods.joined(separator: ", ")
        allowHeaders = settings.allowHeaders.joined(separator: ", ")
        exposeHeaders = settings.exposeHeaders.joined(separator: ", ")
        maxAge = settings.preflightMaxAge > 0 ? String(settings.preflightMaxAge) : nil
        methodSet = Set(settings.allowMethods.map { $0.uppercased() })
        headerSet = Set(settings.allowHeaders.map { $0.lowercased() })
    }

    /// Every CORS-enabled response varies by Origin, with or without one.
    public static let vary = HTTPField(name: .vary, value: "Origin")

    /// The decision for a request head.
    public func decide(method: HTTPRequest.Method, fields: HTTPFields) -> CORSDecision {
        decide(CORSRequest(method: method, fields: fields))
    }

    public func decide(_ request: CORSRequest) -> CORSDecision {
        let preflight = request.isPreflight
        let action: CORSDecision.Action = preflight ? .answerPreflight : .serve
        var headers = HTTPFields([Self.vary])
        guard let origin = request.origin, !origin.isEmpty else {
            return CORSDecision(action: action, headers: headers, rule: .noOrigin, originAllowed: nil)
        }
        let rule: CORSRule
        switch match(origin) {
        case .unusable:
            return CORSDecision(action: action, headers: headers, rule: .unparsableOrigin, originAllowed: nil)
        case .refused(let why):
            let refused = settings.mode == .reject
            return CORSDecision(action: refused ? .refuse : action, headers: headers, rule: why, originAllowed: false)
        case .allowed(let why):
            rule = why
        }
        headers.append(HTTPField(name: .accessControlAllowOrigin, value: settings.allowAllOrigins && !settings.allowCredentials ? "*" : origin))
        if settings.allowCredentials { headers.append(HTTPField(name: .accessControlAllowCredentials, value: "true")) }
        if !exposeHeaders.isEmpty { headers.append(HTTPField(name: .accessControlExposeHeaders, value: exposeHeaders)) }
        if request.method == "OPTIONS" {
            headers.append(HTTPField(name: .accessControlAllowHeaders, value: allowHeaders))
            headers.append(HTTPField(name: .accessControlAllowMethods, value: allowMethods))
            if let maxAge { headers.append(HTTPField(name: .accessControlMaxAge, value: maxAge)) }
        }
        if settings.allowPrivateNetwork && request.requestPrivateNetwork == "true" {
            headers.append(HTTPField(name: .accessControlAllowPrivateNetwork, value: "true"))
        }
        if preflight && settings.mode == .reject, let refusal = refusePreflight(request) {
            return CORSDecision(action: .refuse, headers: HTTPFields([Self.vary]), rule: refusal, originAllowed: true)
        }
        return CORSDecision(action: action, headers: headers, rule: rule, originAllowed: true)
    }

    enum Match: Equatable {
        /// Allowed, by this rule.
        case allowed(CORSRule)
        /// A usable origin the policy does not allow (the rule says why).
        case refused(CORSRule)
        /// Treated as absent: no CORS headers, nothing refused.
        case unusable
    }

    func match(_ origin: String) -> Match {
        guard origin.utf8.count <= Origin.maxLength else { return .refused(.originTooLong) }
        guard origin.utf8.allSatisfy({ $0 < 0x80 }) else { return .refused(.originNotASCII) }
        switch settings.mode {
        case .reject:
            // Listed origins are stored serialised: a hit needs no parsing.
            if exactOrigins.contains(origin) && !settings.allowAllOrigins { return .allowed(origin == "null" ? .nullListed : .allowedOrigins) }
            let canonical = (try? Origin(parsing: origin, lenient: false))?.serialized == origin
            guard canonical else { return .unusable }
            if settings.allowAllOrigins { return .allowed(.allowAllOrigins) }
        case .compatible:
            // django-cors-headers: urlsplit first (a ValueError means no headers), then
            // allow-all, the listed origins by scheme and netloc, the patterns on the raw value.
            guard let split = DjangoOriginSplit(origin) else { return .unusable }
            if settings.allowAllOrigins { return .allowed(.allowAllOrigins) }
            if origin == "null" && exactOrigins.contains(origin) { return .allowed(.nullListed) }
            if djangoOrigins.contains(split) { return .allowed(.allowedOrigins) }
        }
        for pattern in settings.allowedOriginPatterns where pattern.matches(serialized: origin) {
            return .allowed(.allowedOriginPattern(pattern.source))
        }
        return .refused(.originNotAllowed)
    }

    /// `reject` mode checks what a preflight asks for against the policy.
    private func refusePreflight(_ request: CORSRequest) -> CORSRule? {
        guard let method = request.requestMethod, !method.isEmpty, methodSet.contains(method.uppercased()) else {
            return .preflightMethodNotAllowed
        }
        for header in (request.requestHeaders ?? "").split(separator: ",") {
            let name = header.trimmingOWS().lowercased()
            if !name.isEmpty && !headerSet.contains(name) { return .preflightHeaderNotAllowed }
        }
        return nil
    }
}

/// The CORS-relevant parts of a request head.
public struct CORSRequest: Sendable, Equatable {
    /// The `Origin` field as sent, or nil.
    public var origin: String?
    /// The request method, as sent (`GET`, `OPTIONS`, …).
    public var method: String
    /// `Access-Control-Request-Method`; present (even empty) makes an OPTIONS a preflight.
    public var requestMethod: String?
    /// `Access-Control-Request-Headers`, as sent.
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

    /// django-cors-headers' definition: OPTIONS with an `Access-Control-Request-Method` field.
    public var isPreflight: Bool { method == "OPTIONS" && requestMethod != nil }
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
    /// Response fields in order, names as they are sent.
    public var headers: [(name: String, value: String)]
    /// The rule that decided, for logs and the explain endpoint.
    public var rule: String
    /// Whether the origin is allowed (nil: no usable Origin, so CORS does not apply).
    public var originAllowed: Bool?

    public static func == (a: CORSDecision, b: CORSDecision) -> Bool {
        a.action == b.action && a.rule == b.rule && a.originAllowed == b.originAllowed
            && a.headers.map { "\($0.name): \($0.value)" } == b.headers.map { "\($0.name): \($0.value)" }
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
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

    public static let vary = (name: "Vary", value: "Origin")

    public func decide(_ request: CORSRequest) -> CORSDecision {
        let preflight = request.isPreflight
        let action: CORSDecision.Action = preflight ? .answerPreflight : .serve
        // Every CORS-enabled response varies by Origin, with or without one.
        var headers = [Self.vary]
        guard let origin = request.origin, !origin.isEmpty else {
            return CORSDecision(action: action, headers: headers, rule: "no_origin", originAllowed: nil)
        }
        let rule: String
        switch match(origin) {
        case .unusable:
            return CORSDecision(action: action, headers: headers, rule: "unparsable_origin", originAllowed: nil)
        case .refused(let why):
            let refused = settings.mode == .reject
            return CORSDecision(action: refused ? .refuse : action, headers: headers, rule: why, originAllowed: false)
        case .allowed(let why):
            rule = why
        }
        if settings.allowAllOrigins && !settings.allowCredentials {
            headers.append(("Access-Control-Allow-Origin", "*"))
        } else {
            headers.append(("Access-Control-Allow-Origin", origin))
        }
        if settings.allowCredentials { headers.append(("Access-Control-Allow-Credentials", "true")) }
        if !exposeHeaders.isEmpty { headers.append(("Access-Control-Expose-Headers", exposeHeaders)) }
        if request.method == "OPTIONS" {
            headers.append(("Access-Control-Allow-Headers", allowHeaders))
            headers.append(("Access-Control-Allow-Methods", allowMethods))
            if let maxAge { headers.append(("Access-Control-Max-Age", maxAge)) }
        }
        if settings.allowPrivateNetwork && request.requestPrivateNetwork == "true" {
            headers.append(("Access-Control-Allow-Private-Network", "true"))
        }
        if preflight && settings.mode == .reject, let refusal = refusePreflight(request) {
            return CORSDecision(action: .refuse, headers: [Self.vary], rule: refusal, originAllowed: true)
        }
        return CORSDecision(action: action, headers: headers, rule: rule, originAllowed: true)
    }

    enum Match: Equatable {
        /// Allowed, by this rule.
        case allowed(String)
        /// A usable origin the policy does not allow (the rule says why).
        case refused(String)
        /// Treated as absent: no CORS headers, nothing refused.
        case unusable
    }

    func match(_ origin: String) -> Match {
        guard origin.utf8.count <= Origin.maxLength else { return .refused("origin_too_long") }
        guard origin.utf8.allSatisfy({ $0 < 0x80 }) else { return .refused("origin_not_ascii") }
        switch settings.mode {
        case .reject:
            let canonical = (try? Origin(parsing: origin, lenient: false))?.serialized == origin
            guard canonical else { return .unusable }
            if settings.allowAllOrigins { return .allowed("allow_all_origins") }
            if exactOrigins.contains(origin) { return .allowed(origin == "null" ? "null_listed" : "allowed_origins") }
        case .compatible:
            // django-cors-headers: urlsplit first (a ValueError means no headers), then
            // allow-all, the listed origins by scheme and netloc, the patterns on the raw value.
            guard let split = DjangoOriginSplit(origin) else { return .unusable }
            if settings.allowAllOrigins { return .allowed("allow_all_origins") }
            if origin == "null" && exactOrigins.contains(origin) { return .allowed("null_listed") }
            if djangoOrigins.contains(split) { return .allowed("allowed_origins") }
        }
        for pattern in settings.allowedOriginPatterns where pattern.matches(serialized: origin) {
            return .allowed("allowed_origin_patterns:\(pattern.source)")
        }
        return .refused("origin_not_allowed")
    }

    /// `reject` mode checks what a preflight asks for against the policy.
    private func refusePreflight(_ request: CORSRequest) -> String? {
        guard let method = request.requestMethod, !method.isEmpty, methodSet.contains(method.uppercased()) else {
            return "preflight_method_not_allowed"
        }
        for header in (request.requestHeaders ?? "").split(separator: ",") {
            let name = header.trimmingCharacters(in: " \t").lowercased()
            if !name.isEmpty && !headerSet.contains(name) { return "preflight_header_not_allowed" }
        }
        return nil
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> String {
        var s = self
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}

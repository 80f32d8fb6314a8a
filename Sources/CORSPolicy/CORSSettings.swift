/// How corsd's tile proxy treats a request from an origin the policy does not allow.
public enum CORSMode: String, Codable, Sendable, CaseIterable {
    /// 403 problem+json; nothing is forwarded. Preflights asking for methods or headers
    /// outside the policy are refused too.
    case reject
    /// django-cors-headers' behaviour: CORS headers omitted, the request still served.
    case compatible
}

/// A deployment's CORS policy. Defaults are django-cors-headers' defaults.
public struct CORSSettings: Codable, Sendable, Equatable {
    public static let defaultMethods = ["DELETE", "GET", "OPTIONS", "PATCH", "POST", "PUT"]
    public static let defaultHeaders = ["accept", "authorization", "content-type", "user-agent", "x-csrftoken", "x-requested-with"]

    public var allowAllOrigins = false
    public var allowedOrigins: [Origin] = []
    public var allowedOriginPatterns: [OriginPattern] = []
    public var allowMethods = CORSSettings.defaultMethods
    public var allowHeaders = CORSSettings.defaultHeaders
    public var exposeHeaders: [String] = []
    public var allowCredentials = false
    public var preflightMaxAge = 86400
    public var allowPrivateNetwork = false
    public var mode = CORSMode.reject

    public init() {}

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case allowAllOrigins = "allow_all_origins"
        case allowedOrigins = "allowed_origins"
        case allowedOriginPatterns = "allowed_origin_patterns"
        case allowMethods = "allow_methods"
        case allowHeaders = "allow_headers"
        case exposeHeaders = "expose_headers"
        case allowCredentials = "allow_credentials"
        case preflightMaxAge = "preflight_max_age"
        case allowPrivateNetwork = "allow_private_network"
        case mode
    }
}


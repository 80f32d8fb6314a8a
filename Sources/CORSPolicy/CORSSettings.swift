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
    /// django-cors-headers 4.x's default `CORS_ALLOW_HEADERS`.
    public static let defaultHeaders = ["accept", "authorization", "content-type", "user-agent", "x-csrftoken", "x-requested-with"]
    /// django-cors-headers 3.x's (and earlier) default: also accept-encoding, dnt and origin.
    public static let defaultHeaders3x = ["accept", "accept-encoding", "authorization", "content-type", "dnt", "origin", "user-agent", "x-csrftoken", "x-requested-with"]

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
    /// Which host paths get CORS at all (`CORS_URLS_REGEX`, matched from the start of the
    /// path). corsd's own proxy has its route table; this is the host's equivalent.
    public var urlsRegex = CORSSettings.tileRoutesRegex

    public init() {}

    /// The default for new deployments: ome_seadragon's DeepZoom routes and webgateway's
    /// image-data routes (domain brief §4) only, so a credentialed OMERO.web does not open its
    /// webclient and JSON API to the listed origins.
    public static let tileRoutesRegex: SubsetRegex = {
        let text = "/(?:ome_seadragon/(?:deepzoom|mirax|arrays)/|webgateway/(?:render_image_region|render_image_region_rdef|render_thumbnail|render_birds_eye_view|render_image|render_image_rdef|imgData)/)"
        do { return try SubsetRegex(text) } catch { preconditionFailure("the built-in URL regex is in the subset: \(error)") }
    }()

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
        case urlsRegex = "urls_regex"
    }
}


import CORSPolicy

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

    enum CodingKeys: String, CodingKey, CaseIterable {
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

extension OriginPattern: Codable {
    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { self = try OriginPattern(parsing: text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(source)
    }
}

/// What the host's Django side runs.
public struct DjangoSettings: Codable, Sendable, Equatable {
    /// OMERO.web pins django-cors-headers 3.7.0, so that is the default.
    public static let defaultVersion = "3.7.0"
    /// The django-cors-headers version; it picks the settings.py dialect.
    public var corsHeadersVersion = DjangoSettings.defaultVersion

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case corsHeadersVersion = "cors_headers_version"
    }
}

/// One OMERO.web host or site.
public struct Deployment: Codable, Sendable, Equatable {
    public var name: String
    public var description = ""
    /// The OMERO.web base URL the tile proxy forwards to (normalised, no trailing slash).
    public var upstream: String
    public var cors = CORSSettings()
    public var django = DjangoSettings()
    public var limits = LimitEntry.seedDefaults
    public var systemdUnits: [String] = []
    /// Lifts the nofile ≤ fs.nr_open (1048576) rule for hosts that raised fs.nr_open.
    public var allowAboveNrOpen = false

    public init(name: String, upstream: String) {
        self.name = name
        self.upstream = upstream
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, description, upstream, cors, django, limits
        case systemdUnits = "systemd_units"
        case allowAboveNrOpen = "allow_above_nr_open"
    }
}

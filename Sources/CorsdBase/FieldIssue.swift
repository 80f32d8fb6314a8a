/// A problem with one field: its path (`cors.allowed_origins[2]`), the rule it broke and a
/// sentence for humans. Validation errors, render errors, warnings and the `errors` of every
/// problem+json response are all this one type.
public struct FieldIssue: Error, Sendable, Equatable, Codable, CustomStringConvertible {
    public var field: String
    public var rule: Rule
    public var message: String

    public init(field: String, rule: Rule, message: String) {
        self.field = field
        self.rule = rule
        self.message = message
    }

    public var description: String { field.isEmpty ? "\(message) [\(rule.rawValue)]" : "\(field): \(message) [\(rule.rawValue)]" }
}

/// Every rule a `FieldIssue` can name. `openapi.yaml` lists them all (the `Rule` schema's enum,
/// each with its meaning); a test keeps the two the same.
public enum Rule: String, Sendable, Codable, CaseIterable {
    // JSON text
    case json
    case duplicateKey = "duplicate_key"
    case numberRange = "number_range"
    case utf8
    case maxDepth = "max_depth"
    // Shapes
    case type
    case required
    case unknownField = "unknown_field"
    case unknownParameter = "unknown_parameter"
    case maxLength = "max_length"
    case maxItems = "max_items"
    case range
    case `enum`
    case duplicate
    case noControlCharacters = "no_control_characters"
    case readOnly = "read_only"
    // Deployments
    case slug
    case immutable
    case httpURL = "http_url"
    case pemCertificates = "pem_certificates"
    case httpsUpstream = "https_upstream"
    case authority
    case version
    case origin
    case pattern
    case token
    case limitsDomain = "limits_domain"
    case limitsType = "limits_type"
    case limitsItem = "limits_item"
    case limitsValue = "limits_value"
    case nofileMin = "nofile_min"
    case nrOpen = "nr_open"
    case softLEHard = "soft_le_hard"
    case unitName = "unit_name"
    case unitType = "unit_type"
    case userName = "user_name"
    // Warnings
    case allowAllWithCredentials = "allow_all_with_credentials"
    case nullOrigin = "null_origin"
    case insecureOrigin = "insecure_origin"
    // Renders
    case legacyDialect = "legacy_dialect"
    case unsupportedByVersion = "unsupported_by_version"
    case omeroConfig4x = "omero_config_4x"
    case envFileValue = "env_file_value"
    case nofileRequired = "nofile_required"
    case unknownUnit = "unknown_unit"
    // Requests
    case contentType = "content_type"
    case percentEncoding = "percent_encoding"
    case entityTags = "entity_tags"
    case imageID = "image_id"
    case rfc3339
    case future
    case cursor
    case tokenName = "token_name"
    case hostName = "host_name"
    case scope
    case boolean
    // The HTTP layer
    case httpMessage = "http_message"
    case requestTimeout = "request_timeout"
    case bodyTooLarge = "body_too_large"
    case targetTooLong = "target_too_long"
    case headerTooLarge = "header_too_large"

    /// One line: what breaking the rule means.
    public var meaning: String {
        switch self {
        case .json: return "the body is not RFC 8259 JSON"
        case .duplicateKey: return "an object names the same member twice"
        case .numberRange: return "an integer outside ±2^53"
        case .utf8: return "bytes that are not UTF-8, or an escaped lone surrogate"
        case .maxDepth: return "arrays and objects nested deeper than 32"
        case .type: return "the value has the wrong JSON type"
        case .required: return "a required field or parameter is missing"
        case .unknownField: return "a field this object does not have (typos never pass silently)"
        case .unknownParameter: return "a query parameter this operation does not take"
        case .maxLength: return "a string longer than its limit, counted in Unicode scalars"
        case .maxItems: return "an array with more items than its limit"
        case .range: return "a number outside its allowed range"
        case .enum: return "a value that is not one of the listed choices"
        case .duplicate: return "the same item listed twice"
        case .noControlCharacters: return "a string containing control characters or line separators"
        case .readOnly: return "a read-only field (revision, created_at, updated_at, warnings) of the wrong type"
        case .slug: return "a deployment name that is not a slug [a-z0-9][a-z0-9-]{0,62}"
        case .immutable: return "a field that cannot change, such as a deployment's name"
        case .httpURL: return "not an http:// or https:// base URL without credentials, query or fragment"
        case .pemCertificates: return "not a PEM bundle of CERTIFICATE blocks (base64 DER)"
        case .httpsUpstream: return "a setting that only applies to an https:// upstream"
        case .authority: return "not a host name or address with an optional port"
        case .version: return "not a version number such as 3.7.0"
        case .origin: return "not a serialized origin such as https://viewer.example.org"
        case .pattern: return "not in corsd's pattern language (see the OriginPattern schema)"
        case .token: return "not an HTTP token (method or header name)"
        case .limitsDomain: return "not a limits.conf domain"
        case .limitsType: return "not soft, hard or -"
        case .limitsItem: return "not one of Debian 12 pam_limits' items"
        case .limitsValue: return "not a value this limits.conf item takes"
        case .nofileMin: return "a nofile limit below 1024"
        case .nrOpen: return "a nofile limit above fs.nr_open's default without allow_above_nr_open"
        case .softLEHard: return "a soft limit above its hard limit"
        case .unitName: return "not a systemd unit name"
        case .unitType: return "a unit type that takes no LimitNOFILE="
        case .userName: return "not a user name"
        case .allowAllWithCredentials: return "a warning; any site can make credentialed requests"
        case .nullOrigin: return "a warning; the null origin can be produced by any site"
        case .insecureOrigin: return "a warning; a plain-http origin in front of an https upstream"
        case .legacyDialect: return "django-cors-headers < 3.0 cannot express this origin list"
        case .unsupportedByVersion: return "the host's django-cors-headers version has no such setting"
        case .omeroConfig4x: return "OMERO.web's config keys cannot carry django-cors-headers 4.x settings"
        case .envFileValue: return "a value an environment file cannot carry"
        case .nofileRequired: return "the render needs a nofile limit for the unit's user or *"
        case .unknownUnit: return "not one of the deployment's systemd_units"
        case .contentType: return "a body whose Content-Type this operation does not accept"
        case .percentEncoding: return "malformed percent-encoding"
        case .entityTags: return "If-Match or If-None-Match is neither * nor a list of entity-tags"
        case .imageID: return "not an image, slide or dataset id"
        case .rfc3339: return "not an RFC 3339 time"
        case .future: return "a time that must be in the future is not"
        case .cursor: return "not a next_after value of a previous page"
        case .tokenName: return "a token name that is not 1–64 of [A-Za-z0-9._-]"
        case .hostName: return "a host name that is not 1–253 letters, digits, '.', '_' or '-' starting with a letter or digit"
        case .scope: return "not admin, read or agent:<deployment>"
        case .boolean: return "a query flag that is not true or false"
        case .httpMessage: return "the request is not a valid HTTP/1.1 message"
        case .requestTimeout: return "the request was not received in time"
        case .bodyTooLarge: return "the request body is over the server's limit"
        case .targetTooLong: return "the request line is over the server's limit"
        case .headerTooLarge: return "the header section is over the server's limit"
        }
    }
}

/// Every rule a value broke, as one error.
public struct ValidationFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public var issues: [FieldIssue]
    public init(_ issues: [FieldIssue]) { self.issues = issues }
    public var description: String { issues.map(\.description).joined(separator: "; ") }
}

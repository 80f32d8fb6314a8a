@_exported import CORSPolicy

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

@_exported import CORSPolicy

/// What the host's Django side runs.
public struct DjangoSettings: Codable, Sendable, Equatable {
    /// OMERO.web pins django-cors-headers 3.7.0, so that is the default.
    public static let defaultVersion = "3.7.0"
    /// The django-cors-headers version; it picks the settings.py dialect.
    public var corsHeadersVersion = DjangoSettings.defaultVersion

    public init() {}

    /// The major version number (3 for 3.7.0).
    public var majorVersion: Int { corsHeadersVersion.split(separator: ".").first.flatMap { Int($0) } ?? 0 }

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
    public var limits = LimitEntry.defaults
    /// The systemd units that run OMERO.web (or OMERO.server), each with the user it runs as:
    /// its drop-in takes that user's nofile limits.
    public var systemdUnits: [SystemdUnit] = []
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

/// A systemd unit and the user it runs as.
public struct SystemdUnit: Codable, Sendable, Equatable, Hashable {
    /// `omero-web.service`, `omero-web.socket`, …
    public var unit: String
    /// The `User=` of the unit: its limits entries (else `*`'s) become the unit's `LimitNOFILE`.
    public var user: String

    public init(unit: String, user: String) {
        self.unit = unit
        self.user = user
    }

    /// The drop-in section for the unit's type: `LimitNOFILE=` is an exec option of these.
    public var section: String? { SystemdUnitName.section(of: unit) }
}

import CorsdBase
import Foundation
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
    /// The OMERO.web base URL the tile proxy forwards to (parsed once, at validation).
    public var upstream: UpstreamURL
    public var cors = CORSSettings()
    public var django = DjangoSettings()
    public var limits = LimitEntry.defaults
    /// The systemd units that run OMERO.web (or OMERO.server), each with the user it runs as:
    /// its drop-in takes that user's nofile limits.
    public var systemdUnits: [SystemdUnit] = []
    /// Lifts the nofile ≤ fs.nr_open (1048576) rule for hosts that raised fs.nr_open.
    public var allowAboveNrOpen = false
    /// The host name viewers use for this deployment (`tiles.example.org[:port]`): sent
    /// upstream as `X-Forwarded-Host`. Unset, no `X-Forwarded-Host` is sent (the client's
    /// `Host` is never passed on).
    public var publicHost: String?
    /// How long the tile proxy keeps responses the upstream says nothing about.
    public var cache = TileCachePolicy()
    /// PEM CA certificates that verify an https upstream instead of the system trust store
    /// (an internal CA). Checked for PEM syntax here; OpenSSL reads it when the proxy uses it.
    public var upstreamCA: String?

    public init(name: String, upstream: UpstreamURL) {
        self.name = name
        self.upstream = upstream
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, description, upstream, cors, django, limits
        case systemdUnits = "systemd_units"
        case allowAboveNrOpen = "allow_above_nr_open"
        case publicHost = "public_host"
        case cache
        case upstreamCA = "upstream_ca"
    }
}

/// nginx's `proxy_cache_valid`, per deployment: OMERO.web and ome_seadragon send no ETag,
/// Last-Modified or Cache-Control on tiles, so without this nothing from a real OMERO is ever
/// cached. A TTL applies only when the upstream gives no freshness of its own, and never over
/// `no-store`, `private` or `no-cache`. 0 (the default) is off.
public struct TileCachePolicy: Codable, Sendable, Equatable {
    /// Tiles and rendered images (`…_files/…`, `render_image_region`, thumbnails…).
    public var tilesTTL = 0
    /// Descriptors and metadata (`.dzi`, `.json`, `imgData`…).
    public var metadataTTL = 0
    /// One year: the longest TTL accepted.
    public static let maxTTL = 31_536_000

    public init(tilesTTL: Int = 0, metadataTTL: Int = 0) {
        self.tilesTTL = tilesTTL
        self.metadataTTL = metadataTTL
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case tilesTTL = "tiles_ttl_s"
        case metadataTTL = "metadata_ttl_s"
    }
}

/// A systemd unit and the user it runs as.
public struct SystemdUnit: Codable, Sendable, Equatable, Hashable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case unit, user
    }

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

extension Deployment {
    /// The fields that differ from `previous`, for log lines: top-level names, and
    /// `object.member` inside objects (`cors.allowed_origins`). Every field when there was none.
    public func changedFields(from previous: Deployment?) -> [String] {
        let now = Self.members(self), before = previous.map(Self.members) ?? [:]
        var changed: [String] = []
        for key in Set(now.keys).union(before.keys).sorted() {
            if case .object(let a)? = now[key], case .object(let b)? = before[key] {
                for member in Set(a.keys).union(b.keys).sorted() where a[member] != b[member] { changed.append("\(key).\(member)") }
            } else if now[key] != before[key] {
                changed.append(key)
            }
        }
        return changed
    }

    private static func members(_ d: Deployment) -> [String: JSONValue] {
        guard let data = try? JSONCoding.encoder().encode(d), case .success(.object(let members)) = JSONValue.parse(Array(data)) else { return [:] }
        return members
    }
}

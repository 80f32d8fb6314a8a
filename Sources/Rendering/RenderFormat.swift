import CorsdModel
import Crypto
import CorsdBase
/// The formats and their single entry point, shared by the API and the CLI.
public enum RenderFormat: Sendable, Equatable {
    case settingsPy
    case omeroConfig
    case omeroLoadFile
    case omeroEnvFile
    case limitsConf
    case systemd(unit: String)
    case compose
    case supervisord

    /// The fixed names, in listing order; `systemd/<unit>` is the one with a parameter.
    static let fixed: [(String, RenderFormat)] = [
        ("settings.py", .settingsPy), ("omero-web-config.sh", .omeroConfig), ("omero-web.omero", .omeroLoadFile),
        ("omero-web.env", .omeroEnvFile), ("limits.conf", .limitsConf), ("docker-compose.yml", .compose),
        ("supervisord.conf", .supervisord),
    ]

    /// Parses a format name such as `settings.py` or `systemd/<unit>`.
    public init?(_ text: String) {
        if let match = Self.fixed.first(where: { $0.0 == text }) {
            self = match.1
            return
        }
        guard text.hasPrefix("systemd/"), text.count > 8 else { return nil }
        self = .systemd(unit: String(text.dropFirst(8)))
    }

    public static let names = fixed.map(\.0) + ["systemd/<unit>"]

    /// The format's name as the API and the CLI spell it.
    public var name: String {
        if case .systemd(let unit) = self { return "systemd/\(unit)" }
        return Self.fixed.first { $0.1 == self }?.0 ?? ""
    }

    /// Every render of `deployment`: the fixed formats and a drop-in per systemd unit.
    public static func all(for deployment: Deployment) -> [RenderFormat] {
        fixed.map(\.1) + deployment.systemdUnits.map { .systemd(unit: $0.unit) }
    }

    public func render(_ input: RenderInput, dialect: SettingsDialect? = nil) throws(FieldIssue) -> Rendered {
        switch self {
        case .settingsPy: return try SettingsPyRenderer.render(input, dialect: dialect)
        case .omeroConfig: return try OmeroConfigScriptRenderer.render(input, dialect: dialect)
        case .omeroLoadFile: return try OmeroLoadFileRenderer.render(input, dialect: dialect)
        case .omeroEnvFile: return try OmeroEnvFileRenderer.render(input, dialect: dialect)
        case .limitsConf: return LimitsConfRenderer.render(input)
        case .systemd(let unit): return try SystemdDropInRenderer.render(input, unit: unit)
        case .compose: return try ComposeRenderer.render(input)
        case .supervisord: return try SupervisordRenderer.render(input)
        }
    }
}

extension RenderFormat {
    /// Where the file goes on a host (a hint for people and `corsd agent` configurations).
    public func installHint(deployment: String) -> String {
        switch self {
        case .settingsPy: return "included in OMERO.web's settings.py, before '# Load server list and freeze'"
        case .omeroConfig: return "run as the OMERO.web user: sh omero-web-config.sh"
        case .omeroLoadFile: return "/opt/omero/web/config/90-corsd.omero"
        case .omeroEnvFile: return "docker run --env-file omero-web.env (or compose env_file)"
        case .limitsConf: return "/etc/security/limits.d/90-corsd-\(deployment).conf"
        case .systemd(let unit): return "/etc/systemd/system/\(unit).d/corsd-limits.conf"
        case .compose: return "merged into the compose file"
        case .supervisord: return "/etc/supervisor/conf.d/corsd-limits.conf"
        }
    }
}

/// Every render of a deployment with its ETag, and one ETag for the whole set: what hosts
/// poll (and long-poll) to learn that something they install changed.
public struct RenderSet: Sendable, Equatable {
    public struct Entry: Sendable, Equatable, Encodable {
        public var format: String
        public var install: String
        /// The render's ETag (its content hash), nil when the deployment cannot be rendered in
        /// this format (`error` says why).
        public var etag: String?
        public var size: Int?
        public var error: String?
    }

    public var entries: [Entry]
    /// Changes exactly when some entry's ETag (or error) does.
    public var etag: String

    public init(_ deployment: Deployment) {
        entries = RenderFormat.all(for: deployment).map { format in
            do throws(FieldIssue) {
                let rendered = try format.render(RenderInput(deployment: deployment))
                return Entry(format: format.name, install: format.installHint(deployment: deployment.name), etag: rendered.etag, size: rendered.text.utf8.count)
            } catch {
                return Entry(format: format.name, install: format.installHint(deployment: deployment.name), error: error.message)
            }
        }
        let summary = entries.map { "\($0.format) \($0.etag ?? "-") \($0.error ?? "")\n" }.joined()
        etag = "\"set-\(Rendered.sha256(summary).prefix(32))\""
    }
}

extension Rendered {
    /// The API's ETag of a render: the first 128 bits of its SHA-256, quoted.
    public var etag: String { Self.etag(of: Array(text.utf8)) }

    /// The ETag these bytes would have as a render (agents compare files on disk with it).
    public static func etag(of bytes: [UInt8]) -> String {
        "\"" + SHA256.hash(data: bytes).map { Quoting.hex(UInt32($0), 2) }.joined().prefix(32) + "\""
    }
}

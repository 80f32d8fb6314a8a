import CorsdModel
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

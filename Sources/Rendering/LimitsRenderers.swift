import CorsdModel

/// `limits.conf` fragment for `/etc/security/limits.d/`: one aligned line per entry.
public enum LimitsConfRenderer {
    public static func render(_ input: RenderInput) -> Rendered {
        let rows = [["#<domain>", "<type>", "<item>", "<value>"]]
            + input.deployment.limits.map { [$0.domain, $0.type.rawValue, $0.item, $0.value.description] }
        let widths = (0..<4).map { column in rows.map { $0[column].count }.max()! }
        let body = rows.map { row in
            row.enumerated().map { i, cell in
                i == 3 ? cell : cell.padding(to: widths[i] + 2)
            }.joined()
        }.joined(separator: "\n") + "\n"
        let name = input.deployment.name
        let notes = [
            "These limits apply to PAM login sessions only (pam_limits). Services started by systemd",
            "(omero-server, omero-web) do not pass through PAM: install the systemd drop-in as well.",
            "Log in again (or restart the service's session) for new limits to apply.",
        ]
        return Rendered(
            text: header(input, comment: "#", what: "limits.conf(5) fragment.", install: "/etc/security/limits.d/90-corsd-\(name).conf", bodyHash: Rendered.sha256(body), notes: notes) + body,
            contentType: "text/plain; charset=utf-8")
    }
}

/// A systemd drop-in giving one unit `LimitNOFILE=soft:hard`.
public enum SystemdDropInRenderer {
    /// The nofile limits of the service user: the first user-name domain with nofile entries
    /// (else `*`). Returns (soft, hard) as systemd spells them.
    static func nofile(_ d: Deployment) throws(RenderError) -> (soft: String, hard: String) {
        let entries = d.limits.filter { $0.item == "nofile" }
        let isUser: (String) -> Bool = { !$0.hasPrefix("@") && !$0.contains(":") && $0 != "*" }
        guard let domain = entries.first(where: { isUser($0.domain) })?.domain ?? entries.first(where: { $0.domain == "*" })?.domain else {
            throw RenderError(field: "limits", rule: "nofile_required", message: "has no nofile entry for a user (or *) to turn into LimitNOFILE")
        }
        let mine = entries.filter { $0.domain == domain }
        let soft = mine.first { $0.type != .hard }?.value
        let hard = mine.first { $0.type != .soft }?.value
        func spell(_ v: LimitEntry.Value) -> String { v == .unlimited ? "infinity" : v.description }
        return (spell(soft ?? hard!), spell(hard ?? soft!))
    }

    public static func render(_ input: RenderInput, unit: String) throws(RenderError) -> Rendered {
        guard input.deployment.systemdUnits.contains(unit) else {
            throw RenderError(field: "systemd_units", rule: "unknown_unit", message: "'\(Quoting.comment(unit))' is not one of this deployment's systemd_units")
        }
        let (soft, hard) = try nofile(input.deployment)
        let path = "/etc/systemd/system/\(unit).d/corsd-limits.conf"
        let body = "[Service]\nLimitNOFILE=\(soft):\(hard)\n"
        let notes = [
            "Then: systemctl daemon-reload && systemctl restart \(unit)",
            "Check: systemctl show -p LimitNOFILE,LimitNOFILESoft \(unit)",
        ]
        return Rendered(
            text: header(input, comment: "#", what: "systemd drop-in for \(unit).", install: path, bodyHash: Rendered.sha256(body), notes: notes) + body,
            contentType: "text/plain; charset=utf-8")
    }
}

extension String {
    func padding(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}

/// The formats and their single entry point, shared by the API and the CLI.
public enum RenderFormat: Sendable, Equatable {
    case settingsPy
    case omeroConfig
    case limitsConf
    case systemd(unit: String)

    /// Parses `settings.py`, `omero-web-config.sh`, `limits.conf` or `systemd/<unit>`.
    public init?(_ text: String) {
        switch text {
        case "settings.py": self = .settingsPy
        case "omero-web-config.sh": self = .omeroConfig
        case "limits.conf": self = .limitsConf
        default:
            guard text.hasPrefix("systemd/"), text.count > 8 else { return nil }
            self = .systemd(unit: String(text.dropFirst(8)))
        }
    }

    public static let names = ["settings.py", "omero-web-config.sh", "limits.conf", "systemd/<unit>"]

    public func render(_ input: RenderInput, dialect: SettingsDialect? = nil) throws(RenderError) -> Rendered {
        switch self {
        case .settingsPy: return try SettingsPyRenderer.render(input, dialect: dialect)
        case .omeroConfig: return try OmeroConfigRenderer.render(input, dialect: dialect)
        case .limitsConf: return LimitsConfRenderer.render(input)
        case .systemd(let unit): return try SystemdDropInRenderer.render(input, unit: unit)
        }
    }
}

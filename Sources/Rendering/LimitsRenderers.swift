import CorsdBase
import CorsdModel

/// Why nofile is raised at all, told truly: no version of django-cors-headers opens
/// `/dev/urandom`; Python 2.7's `os.urandom` opened it on every call (Django uses it for
/// session keys and CSRF tokens), so EMFILE surfaced there while sockets, OMERO sessions and
/// slide files held the descriptors.
let nofileStory = [
    "Why: OMERO.web holds many descriptors at once (client sockets, OMERO sessions, open slide",
    "files); at the default limit it fails with EMFILE. (The old 'Too many open files:",
    "/dev/urandom' came from Python 2.7's os.urandom, not from django-cors-headers.)",
]

/// `limits.conf` fragment for `/etc/security/limits.d/`: one aligned line per entry.
public enum LimitsConfRenderer {
    public static func render(_ input: RenderInput) -> Rendered {
        let rows = [["#<domain>", "<type>", "<item>", "<value>"]]
            + input.deployment.limits.map { [$0.domain, $0.type.rawValue, $0.item, $0.value.description] }
        let widths = (0..<4).map { column in rows.map { $0[column].count }.max() ?? 0 }
        let body = rows.map { row in
            row.enumerated().map { i, cell in
                i == 3 ? cell : cell.padding(to: widths[i] + 2)
            }.joined()
        }.joined(separator: "\n") + "\n"
        let name = input.deployment.name
        let notes = nofileStory + [
            "These limits apply to PAM login sessions only (pam_limits). Services started by systemd",
            "(omero-server, omero-web) do not pass through PAM: install the systemd drop-in as well.",
            "Log in again (or restart the service's session) for new limits to apply.",
        ]
        return Rendered(
            text: header(input, comment: "#", what: "limits.conf(5) fragment.", install: "/etc/security/limits.d/90-corsd-\(name).conf", bodyHash: Rendered.sha256(body), notes: notes) + body,
            contentType: "text/plain; charset=utf-8")
    }
}

/// A user's nofile limits, as (soft, hard): the entries for that user, else those for `*`.
struct NofileLimits {
    var soft: LimitEntry.Value
    var hard: LimitEntry.Value
    var domain: String

    init(_ d: Deployment, user: String, field: String) throws(FieldIssue) {
        let entries = d.limits.filter { $0.item == "nofile" }
        let mine = entries.contains { $0.domain == user } ? entries.filter { $0.domain == user } : entries.filter { $0.domain == "*" }
        let soft = mine.first { $0.type != .hard }?.value
        let hard = mine.first { $0.type != .soft }?.value
        guard let value = soft ?? hard else {
            throw FieldIssue(field: field, rule: .nofileRequired, message: "limits has no nofile entry for \(user) (or *) to apply")
        }
        self.soft = soft ?? value
        self.hard = hard ?? value
        domain = mine.first?.domain ?? user
    }

    /// For renders that know only one user: the first user-name domain with nofile entries.
    init(serviceUserOf d: Deployment, field: String) throws(FieldIssue) {
        let user = d.limits.first { $0.item == "nofile" && LimitsDomain.isName($0.domain.utf8) }?.domain ?? "*"
        try self.init(d, user: user, field: field)
    }

    /// A number for formats that have no "unlimited": pam_limits uses fs.nr_open's value.
    static func number(_ v: LimitEntry.Value) -> Int {
        if case .number(let n) = v { return n }
        return LimitEntry.nrOpenDefault
    }
}

/// A systemd drop-in giving one unit `LimitNOFILE=soft:hard` in the section of its type.
public enum SystemdDropInRenderer {
    public static func render(_ input: RenderInput, unit name: String) throws(FieldIssue) -> Rendered {
        guard let unit = input.deployment.systemdUnits.first(where: { $0.unit == name }), let section = unit.section else {
            throw FieldIssue(field: "systemd_units", rule: .unknownUnit, message: "'\(Quoting.comment(name))' is not one of this deployment's systemd_units")
        }
        let limits = try NofileLimits(input.deployment, user: unit.user, field: "systemd_units")
        func spell(_ v: LimitEntry.Value) -> String { v == .unlimited ? "infinity" : v.description }
        let path = "/etc/systemd/system/\(unit.unit).d/corsd-limits.conf"
        let body = "[\(section)]\nLimitNOFILE=\(spell(limits.soft)):\(spell(limits.hard))\n"
        let notes = ["The nofile limits of \(limits.domain) (\(unit.unit) runs as \(unit.user))."] + nofileStory + [
            "Then: systemctl daemon-reload && systemctl restart \(unit.unit)",
            "Check: systemctl show -p LimitNOFILE,LimitNOFILESoft \(unit.unit)",
        ]
        return Rendered(
            text: header(input, comment: "#", what: "systemd drop-in for \(unit.unit).", install: path, bodyHash: Rendered.sha256(body), notes: notes) + body,
            contentType: "text/plain; charset=utf-8")
    }
}

/// A compose snippet raising the OMERO.web container's nofile (Docker ignores limits.conf).
public enum ComposeRenderer {
    public static func render(_ input: RenderInput) throws(FieldIssue) -> Rendered {
        let limits = try NofileLimits(serviceUserOf: input.deployment, field: "limits")
        let body = """
        services:
          omero-web:
            ulimits:
              nofile:
                soft: \(NofileLimits.number(limits.soft))
                hard: \(NofileLimits.number(limits.hard))

        """
        let notes = ["The nofile limits of \(limits.domain); unlimited is written as fs.nr_open's default, 1048576."] + nofileStory
        return Rendered(
            text: header(input, comment: "#", what: "docker compose snippet for the OMERO.web container.",
                         install: "merge into compose.yaml (or use as docker compose -f compose.yaml -f this-file)", bodyHash: Rendered.sha256(body), notes: notes) + body,
            contentType: "application/yaml; charset=utf-8")
    }
}

/// supervisord's `minfds`: supervisord raises its soft nofile limit to it, and its children
/// (OMERO.web under supervisord) inherit it.
public enum SupervisordRenderer {
    public static func render(_ input: RenderInput) throws(FieldIssue) -> Rendered {
        let limits = try NofileLimits(serviceUserOf: input.deployment, field: "limits")
        let body = "[supervisord]\nminfds=\(NofileLimits.number(limits.soft))\n"
        let notes = ["The soft nofile limit of \(limits.domain); supervisord fails to start if its hard limit is lower."] + nofileStory
            + ["Then: restart supervisord (minfds is read at start)."]
        return Rendered(
            text: header(input, comment: ";", what: "supervisord.conf fragment.", install: "/etc/supervisor/conf.d/corsd-limits.conf",
                         bodyHash: Rendered.sha256(body), notes: notes) + body,
            contentType: "text/plain; charset=utf-8")
    }
}

extension String {
    func padding(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}

import Foundation
import TestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// `corsd agent` against the real `corsd serve`, installing into a temporary directory that
/// stands for a host (paths, modes and the reload command point into it; nothing outside it is
/// touched). One test uses a scripted server instead of corsd, to cut a download short.
final class AgentIntegrationTests: XCTestCase {
    static let admin = "agent-admin-secret"
    static let deployment = #"{"upstream":"http://omero-web.internal:4080","cors":{"allowed_origins":["https://viewer.example.org"]},"systemd_units":[{"unit":"omero-web.service","user":"omero-web"}],"limits":[{"domain":"omero-web","type":"-","item":"nofile","value":65536}]}"#

    var corsd: CorsdProcess!
    var api: APIClient!
    var host = ""

    override func setUpWithError() throws {
        corsd = try CorsdProcess(environment: ["CORSD_ADMIN_TOKEN": Self.admin], debugRoutes: false)
        api = APIClient(port: corsd.port, token: Self.admin)
        XCTAssertEqual(try api.call("PUT", "/api/v1/deployments/omero-prod", json: Self.deployment).status, 201)
        host = CorsdProcess.temporaryDirectory()
        let token = try CorsdProcess.run(["token", "create", "--db", corsd.databasePath, "--name", "web1", "--scope", "agent:omero-prod"])
        XCTAssertEqual(token.status, 0, token.stderr)
        try token.stdout.write(toFile: host + "/agent.token", atomically: true, encoding: .utf8)
    }

    override func tearDown() { corsd.stop() }

    /// Writes the agent's configuration (files in `host`) and returns its path.
    func config(port: Int? = nil, limitsCheck: String? = nil, extra: [[String: Any]] = []) throws -> String {
        var limits: [String: Any] = ["format": "limits.conf", "dest": host + "/limits.d/90-corsd.conf", "mode": "0640", "backup": true]
        if let limitsCheck { limits["check"] = limitsCheck }
        let config: [String: Any] = [
            "server": "http://127.0.0.1:\(port ?? corsd.port)", "token_file": host + "/agent.token", "deployment": "omero-prod", "host": "web1",
            "reload": "echo reloaded >> '\(host)/reloads'", "wait": "5s",
            "files": [limits, ["format": "systemd/omero-web.service", "dest": host + "/corsd-limits.conf"],
                      ["format": "settings.py", "dest": host + "/corsd_settings.py"]] + extra,
        ]
        try FileManager.default.createDirectory(atPath: host + "/limits.d", withIntermediateDirectories: true)
        let path = host + "/agent.json"
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: path))
        return path
    }

    func once(_ config: String) throws -> (status: Int32, stdout: String, stderr: String) {
        try CorsdProcess.run(["agent", "--config", config, "--once"])
    }

    var reloads: Int { ((try? String(contentsOfFile: host + "/reloads", encoding: .utf8)) ?? "").split(separator: "\n").count }

    func stat(_ path: String) -> (inode: UInt, mtime: Int, mode: UInt32)? {
        var s = Glibc.stat()
        guard lstat(path, &s) == 0 else { return nil }
        return (UInt(s.st_ino), s.st_mtim.tv_sec * 1_000_000_000 + s.st_mtim.tv_nsec, UInt32(s.st_mode) & 0o7777)
    }

    func contents(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

    func putLimits(_ value: Int, api: APIClient? = nil) throws {
        let body = Self.deployment.replacingOccurrences(of: "\"value\":65536", with: "\"value\":\(value)")
        XCTAssertEqual(try (api ?? self.api).call("PUT", "/api/v1/deployments/omero-prod", json: body).status, 200)
    }

    /// Waits (bounded) until `condition` holds.
    func eventually(_ what: String, timeout: Double = 15, _ condition: () -> Bool) {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() && Date() < deadline { usleep(20_000) }
        XCTAssertTrue(condition(), what)
    }

    func testFirstSyncWritesEveryFileThenOnlyWhatChangesAndReloadsOnce() throws {
        let config = try config()
        let first = try once(config)
        XCTAssertEqual(first.status, 2, first.stderr)
        let limits = host + "/limits.d/90-corsd.conf", dropIn = host + "/corsd-limits.conf", settings = host + "/corsd_settings.py"
        XCTAssertEqual(stat(limits)?.mode, 0o640)
        XCTAssertEqual(stat(dropIn)?.mode, 0o644)
        XCTAssertTrue(contents(limits)?.contains("65536") ?? false)
        XCTAssertTrue(contents(settings)?.contains("https://viewer.example.org") ?? false)
        XCTAssertEqual(reloads, 1)
        let before = [limits, dropIn, settings].map { stat($0)! }

        XCTAssertEqual(try once(config).status, 0, "nothing changed")
        XCTAssertEqual(reloads, 1)
        XCTAssertEqual([limits, dropIn, settings].map { stat($0)!.inode }, before.map(\.inode), "unchanged files are not touched")
        XCTAssertEqual([limits, dropIn, settings].map { stat($0)!.mtime }, before.map(\.mtime))

        XCTAssertEqual(try api.call("PUT", "/api/v1/deployments/omero-prod", json: Self.deployment.replacingOccurrences(of: "{\"upstream\"", with: "{\"description\":\"words only\",\"upstream\"")).status, 200)
        XCTAssertEqual(try once(config).status, 0, "a description edit changes no file")
        XCTAssertEqual(reloads, 1)

        try putLimits(131072)
        XCTAssertEqual(try once(config).status, 2)
        XCTAssertEqual(reloads, 2, "one reload for the cycle")
        XCTAssertTrue(contents(limits)?.contains("131072") ?? false)
        XCTAssertTrue(contents(limits + ".corsd-prev")?.contains("65536") ?? false, "backup keeps the previous version")
        XCTAssertNotEqual(stat(dropIn)?.inode, before[1].inode, "the drop-in carries the limit too")
        XCTAssertEqual(stat(settings)?.inode, before[2].inode, "a limits edit leaves settings.py alone")
        XCTAssertEqual(stat(limits)?.mode, 0o640)

        let hosts = try api.call("GET", "/api/v1/deployments/omero-prod/hosts").json["hosts"] as? [[String: Any]]
        XCTAssertEqual(hosts?.first?["host"] as? String, "web1")
        XCTAssertEqual(hosts?.first?["in_sync"] as? Bool, true)
        XCTAssertEqual(hosts?.first?["revision"] as? Int, 3)
        XCTAssertEqual((try api.call("GET", "/api/v1/hosts?stale=10m").json["hosts"] as? [Any])?.count, 0, "just seen: not stale")
        XCTAssertEqual((try api.call("GET", "/api/v1/hosts?stale=0s").json["hosts"] as? [[String: Any]])?.first?["host"] as? String, "web1")
        try putLimits(262144)
        let after = try api.call("GET", "/api/v1/deployments/omero-prod/hosts").json["hosts"] as? [[String: Any]]
        XCTAssertEqual(after?.first?["in_sync"] as? Bool, false, "a change the host has not applied yet")
    }

    func testAFailingCheckLeavesTheOldFileAndReportsTheError() throws {
        XCTAssertEqual(try once(try config()).status, 2)
        let limits = host + "/limits.d/90-corsd.conf"
        let old = contents(limits)
        try putLimits(131072)
        let refused = try once(try config(limitsCheck: "grep -q never-there {}"))
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains("refused the file"), refused.stderr)
        XCTAssertEqual(contents(limits), old, "the old file stays")
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: host + "/limits.d").contains { $0.contains(".corsd-") && !$0.hasSuffix("corsd-prev") },
                       "no staged file left behind")
        let report = (try api.call("GET", "/api/v1/deployments/omero-prod/hosts").json["hosts"] as? [[String: Any]])?.first
        XCTAssertEqual(report?["result"] as? String, "error")
        XCTAssertTrue((report?["error"] as? String)?.contains("grep -q never-there") ?? false, "\(report ?? [:])")
        XCTAssertEqual(report?["in_sync"] as? Bool, false)
    }

    func testWithTheServerDownTheFilesStayAndOnceSaysSo() throws {
        let config = try config()
        XCTAssertEqual(try once(config).status, 2)
        let limits = host + "/limits.d/90-corsd.conf"
        let before = stat(limits)
        corsd.stop()
        let down = try once(config)
        XCTAssertEqual(down.status, 1)
        XCTAssertTrue(down.stderr.contains("127.0.0.1:\(corsd.port)"), down.stderr)
        XCTAssertEqual(stat(limits)?.inode, before?.inode)
    }

    func testWatchingFollowsChangesBacksOffWhileTheServerIsDownAndCatchesUp() throws {
        let agent = Process()
        agent.executableURL = CorsdProcess.binaryURL
        agent.arguments = ["agent", "--config", try config()]
        agent.standardError = FileHandle.nullDevice
        try agent.run()
        defer { agent.terminate(); agent.waitUntilExit() }
        let limits = host + "/limits.d/90-corsd.conf"
        eventually("first sync") { contents(limits)?.contains("65536") ?? false }
        try putLimits(131072)
        eventually("a change arrives through the long-poll") { contents(limits)?.contains("131072") ?? false }

        let port = corsd.port, db = corsd.databasePath
        corsd.stop()
        eventually("the agent keeps its files while the server is down", timeout: 2) { contents(limits)?.contains("131072") ?? false }
        corsd = try CorsdProcess(arguments: ["--listen", "127.0.0.1:\(port)"], databasePath: db, environment: ["CORSD_ADMIN_TOKEN": Self.admin], debugRoutes: false)
        try putLimits(262144, api: APIClient(port: corsd.port, token: Self.admin))
        eventually("caught up once the server is back", timeout: 90) { contents(limits)?.contains("262144") ?? false }
    }

    func testRealChecksSystemdAnalyzeOnTheDropInAndPyCompileOnSettings() throws {
        let verify = "d=$(mktemp -d) && mkdir \"$d/omero-web.service.d\" && cp {} \"$d/omero-web.service.d/corsd-limits.conf\" && "
            + "printf '[Service]\\nExecStart=/bin/true\\n' > \"$d/omero-web.service\" && out=$(systemd-analyze verify --man=no \"$d/omero-web.service\" 2>&1); "
            + "rc=$?; rm -rf \"$d\"; [ $rc -eq 0 ] && [ -z \"$out\" ]"
        let path = try config(extra: [])
        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        object["files"] = [["format": "systemd/omero-web.service", "dest": host + "/corsd-limits.conf", "check": verify],
                           ["format": "settings.py", "dest": host + "/corsd_settings.py", "check": "python3 -m py_compile {}"]]
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
        let result = try once(path)
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertTrue(contents(host + "/corsd-limits.conf")?.contains("LimitNOFILE=65536") ?? false)
        // The same check refuses a drop-in systemd does not accept.
        try "[Service]\nLimitNOFILE=lots\n".write(toFile: host + "/bad.conf", atomically: true, encoding: .utf8)
        let quoted = "'\(host)/bad.conf'"
        let bad = try CorsdProcess.runShell(verify.replacingOccurrences(of: "{}", with: quoted))
        XCTAssertNotEqual(bad, 0, "the check command is a real check")
    }

    func testADownloadCutShortLeavesTheOldFile() throws {
        XCTAssertEqual(try once(try config()).status, 2)
        let limits = host + "/limits.d/90-corsd.conf"
        let old = contents(limits)
        // A scripted server, not corsd: lists a new limits.conf, then sends half of it and hangs up.
        let body = "# a new limits file that never arrives whole\n"
        let etag = "\"00000000000000000000000000000000\""
        let fake = try RawServer { connection in
            guard let head = connection.readHead() else { return }
            if head.contains("/renders") {
                let listing = #"{"deployment":"omero-prod","revision":9,"etag":"W/\"set-x\"","renders":[{"format":"limits.conf","install":"","etag":"\#(etag.replacingOccurrences(of: "\"", with: "\\\""))","size":99}]}"#
                connection.send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nETag: W/\"set-x\"\r\nContent-Length: \(listing.utf8.count)\r\nConnection: close\r\n\r\n\(listing)")
            } else if head.contains("/render/") {
                connection.send("HTTP/1.1 200 OK\r\nETag: \(etag)\r\nContent-Length: 4096\r\nConnection: close\r\n\r\n\(body)")
            } else {
                connection.send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
            }
        }
        defer { fake.stop() }
        let cut = try once(try config(port: fake.port))
        XCTAssertEqual(cut.status, 1, cut.stderr)
        XCTAssertEqual(contents(limits), old, "the old file stays")
    }
}

import Foundation
import TestSupport
import XCTest

/// Metrics, logs, readiness and configuration as an operator meets them: the real binary with
/// `--log-format json` and an access log, a real loopback upstream for one deployment and a
/// closed port for another.
final class ObservabilityIntegrationTests: XCTestCase {
    static let admin = "observability-admin-secret"
    static let viewer = "https://viewer.example.org"

    private func get(_ port: Int, _ target: String, origin: String? = nil) throws -> RawResponse {
        let socket = try RawSocket(port: port)
        try socket.send("GET \(target) HTTP/1.1\r\nHost: corsd\r\n" + (origin.map { "Origin: \($0)\r\n" } ?? "") + "Connection: close\r\n\r\n")
        return try socket.readResponse(method: "GET")
    }

    private func jsonLines(_ text: String) -> [[String: Any]] {
        text.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
    }

    func testMetricsLogsAndTheAccessLogTellWhatHappenedAndNeverASecret() throws {
        let dir = CorsdProcess.temporaryDirectory()
        let accessLog = dir + "/access.log"
        let upstream = try RawServer { connection in
            while connection.readHead() != nil { connection.send("HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: 4\r\n\r\ntile") }
        }
        defer { upstream.stop() }
        let corsd = try CorsdProcess(arguments: ["--log-format", "json", "--access-log", accessLog], environment: ["CORSD_ADMIN_TOKEN": Self.admin], debugRoutes: false)
        let api = APIClient(port: corsd.port, token: Self.admin)
        let cors = #""cors":{"allowed_origins":["\#(Self.viewer)"],"mode":"reject"}"#
        XCTAssertEqual(try api.call("PUT", "/api/v1/deployments/omero", json: #"{"upstream":"http://127.0.0.1:\#(upstream.port)",\#(cors)}"#).status, 201)
        let wider = #""cors":{"allowed_origins":["\#(Self.viewer)","https://other.example.org"],"mode":"reject"}"#
        XCTAssertEqual(try api.call("PUT", "/api/v1/deployments/omero", json: #"{"upstream":"http://127.0.0.1:\#(upstream.port)",\#(wider)}"#).status, 200)
        XCTAssertEqual(try api.call("PUT", "/api/v1/deployments/down", json: #"{"upstream":"http://127.0.0.1:1",\#(cors)}"#).status, 201)
        let newToken = try api.call("POST", "/api/v1/tokens", json: #"{"name":"dash","scope":"read"}"#)
        let secret = try XCTUnwrap(newToken.json["secret"] as? String)
        XCTAssertEqual(try api.call("GET", "/api/v1/deployments/omero", token: secret).status, 200)
        XCTAssertEqual(try api.call("GET", "/api/v1/deployments", token: "wrong-secret-value").status, 401)

        let tile = "/ome_seadragon/deepzoom/get/1_files/0/0_0.jpeg"
        XCTAssertEqual(try get(corsd.port, "/tiles/omero" + tile, origin: Self.viewer).status, 200)
        for _ in 0..<3 { XCTAssertEqual(try get(corsd.port, "/tiles/omero" + tile, origin: "https://evil.example").status, 403) }
        XCTAssertEqual(try get(corsd.port, "/tiles/down" + tile, origin: Self.viewer).status, 502)
        XCTAssertEqual(try get(corsd.port, "/no/such/path/12345").status, 404)
        XCTAssertEqual(try get(corsd.port, "/readyz").status, 200)

        let metrics = try get(corsd.port, "/metrics")
        XCTAssertEqual(metrics.status, 200)
        XCTAssertTrue(metrics.field("content-type")?.hasPrefix("text/plain; version=0.0.4") ?? false)
        let text = metrics.text
        for expected in [
            #"corsd_http_requests_total{route="/tiles/{deployment}/{path...}",code="200"} 1"#,
            #"corsd_http_requests_total{route="/tiles/{deployment}/{path...}",code="403"} 3"#,
            #"corsd_http_requests_total{route="unmatched",code="404"} 1"#,
            #"corsd_http_requests_total{route="/api/v1/deployments/{name}",code="201"} 2"#,
            #"corsd_cors_decisions_total{deployment="omero",action="refuse",rule="origin_not_allowed"} 3"#,
            #"corsd_cors_decisions_total{deployment="omero",action="serve",rule="allowed_origins"} 1"#,
            #"corsd_upstream_errors_total{deployment="down",kind="connect"} 1"#,
            #"corsd_http_requests_total{route="/api/v1/deployments/{name}",code="200"} 2"#,
            #"corsd_deployment_revision{deployment="omero"} 2.0"#,
            #"corsd_build_info{version="#, "corsd_tile_cache_misses_total ", "corsd_upstream_request_duration_seconds_bucket{deployment=\"omero\"",
            "corsd_http_request_duration_seconds_bucket{route=", #"corsd_connections{state="open"}"#, "corsd_open_fds ", "corsd_fd_limit ",
        ] {
            XCTAssertTrue(text.contains(expected), "\(expected) in\n\(text)")
        }
        XCTAssertFalse(text.contains("no/such/path"), "raw paths never become labels")
        XCTAssertFalse(text.contains("evil.example"), "nor origins")

        XCTAssertEqual(corsd.stop(), 0)
        let stderr = corsd.stderr
        let logLines = stderr.split(separator: "\n").filter { $0.hasPrefix("{") }
        let logs = jsonLines(stderr)
        XCTAssertEqual(logs.count, logLines.count, "every log line is one JSON object")
        XCTAssertGreaterThan(logs.count, 5)
        let changes = logs.filter { $0["message"] as? String == "policy changed" }
        XCTAssertEqual(changes.count, 3, "\(changes)")
        let created = try XCTUnwrap(changes.first { $0["deployment"] as? String == "omero" })
        XCTAssertEqual(created["revision"] as? String, "1")
        XCTAssertEqual(created["actor"] as? String, "bootstrap")
        XCTAssertEqual(created["action"] as? String, "create")
        XCTAssertTrue((created["changed"] as? [String])?.contains("cors") ?? false, "a creation names every field: \(created)")
        let updated = try XCTUnwrap(changes.first { $0["deployment"] as? String == "omero" && $0["revision"] as? String == "2" })
        XCTAssertEqual(updated["action"] as? String, "update")
        XCTAssertEqual(updated["changed"] as? [String], ["cors.allowed_origins"], "an update names what it changed")
        let refused = logs.filter { $0["message"] as? String == "origin refused" }
        XCTAssertEqual(refused.count, 1, "rate-limited per (deployment, origin): \(refused)")
        XCTAssertEqual(refused.first?["origin"] as? String, "https://evil.example")
        let failed = try XCTUnwrap(logs.first { $0["message"] as? String == "upstream failed" })
        XCTAssertTrue((failed["upstream"] as? String)?.contains("127.0.0.1:1") ?? false, "\(failed)")

        let access = jsonLines(try String(contentsOfFile: accessLog, encoding: .utf8))
        let tiles = access.filter { $0["route"] as? String == "/tiles/{deployment}/{path...}" }
        XCTAssertEqual(tiles.count, 5)
        let served = try XCTUnwrap(tiles.first { $0["status"] as? Int == 200 })
        XCTAssertEqual(served["deployment"] as? String, "omero")
        XCTAssertEqual(served["origin"] as? String, Self.viewer)
        XCTAssertEqual(served["cors_rule"] as? String, "allowed_origins")
        XCTAssertEqual(served["cache"] as? String, "miss")
        XCTAssertEqual(served["bytes"] as? Int, 4)
        XCTAssertEqual(served["method"] as? String, "GET")
        XCTAssertNotNil(served["duration_s"] as? Double)

        let everything = stderr + (try String(contentsOfFile: accessLog, encoding: .utf8))
        for s in [Self.admin, secret, "wrong-secret-value"] { XCTAssertFalse(everything.contains(s), "a secret in the logs: \(s)") }
    }

    func testOptionsComeFromFlagsThenEnvironmentThenTheConfigFile() throws {
        let dir = CorsdProcess.temporaryDirectory()
        try #"{"log-format": "json", "access-log": "\#(dir)/from-file.log", "idle-timeout": 30}"#.write(toFile: dir + "/corsd.json", atomically: true, encoding: .utf8)
        let fromFile = try CorsdProcess(arguments: ["--config", dir + "/corsd.json"], debugRoutes: false)
        XCTAssertNotNil(fromFile.waitForStderr(/"message":"ready"/), "json from the file: \(fromFile.stderr)")
        fromFile.stop()
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/from-file.log"))

        let envOverFile = try CorsdProcess(arguments: [], environment: ["CORSD_CONFIG": dir + "/corsd.json", "CORSD_LOG_FORMAT": "text"], debugRoutes: false)
        XCTAssertNotNil(envOverFile.waitForStderr(/info corsd: .*ready/), "the environment beats the file: \(envOverFile.stderr)")
        envOverFile.stop()

        let flagOverEnv = try CorsdProcess(arguments: ["--log-format", "json"], environment: ["CORSD_LOG_FORMAT": "text"], debugRoutes: false)
        XCTAssertNotNil(flagOverEnv.waitForStderr(/"message":"ready"/), "a flag beats the environment: \(flagOverEnv.stderr)")
        flagOverEnv.stop()

        let byName = try CorsdProcess(arguments: ["--listen", "localhost:0"], debugRoutes: false)
        XCTAssertEqual(try get(byName.port, "/readyz").status, 200, "--listen takes host names")
        byName.stop()

        try #"{"listne": ":8080"}"#.write(toFile: dir + "/typo.json", atomically: true, encoding: .utf8)
        let typo = try CorsdProcess.run(["serve", "--config", dir + "/typo.json"])
        XCTAssertEqual(typo.status, 1)
        XCTAssertTrue(typo.stderr.contains("unknown option 'listne'"), typo.stderr)
        let badFlag = try CorsdProcess.run(["serve", "--db", dir + "/x.sqlite"], environment: ["CORSD_ENABLE_DEBUG_ROUTES": "maybe"])
        XCTAssertEqual(badFlag.status, 1)
        XCTAssertTrue(badFlag.stderr.contains("CORSD_ENABLE_DEBUG_ROUTES"), badFlag.stderr)
    }

    func testMetricsCanHaveAListenerOfTheirOwn() throws {
        let corsd = try CorsdProcess(arguments: ["--metrics-listen", "127.0.0.1:0"], debugRoutes: false)
        defer { corsd.stop() }
        _ = corsd.waitForStderr(/\bready\b/)
        let ports = corsd.stderr.matches(of: /listening on 127\.0\.0\.1:(\d+)/).compactMap { Int($0.output.1) }
        XCTAssertEqual(ports.count, 2, corsd.stderr)
        let metricsPort = try XCTUnwrap(ports.last)
        XCTAssertEqual(try get(metricsPort, "/metrics").status, 200)
        XCTAssertTrue(try get(metricsPort, "/metrics").text.contains("corsd_build_info"))
        XCTAssertEqual(try get(corsd.port, "/metrics").status, 404, "moved off the main listener")
        XCTAssertEqual(try get(metricsPort, "/api/v1/deployments").status, 404, "and nothing else on the metrics listener")
    }

    func testVersionHealthcheckAndReadiness() throws {
        let version = try CorsdProcess.run(["--version"])
        XCTAssertEqual(version.status, 0)
        XCTAssertNotNil(version.stdout.wholeMatch(of: /\d+\.\d+\.\d+\n/), version.stdout)
        let corsd = try CorsdProcess(debugRoutes: false)
        defer { corsd.stop() }
        let probe = try CorsdProcess.run(["healthcheck", "--url", "http://127.0.0.1:\(corsd.port)/readyz"])
        XCTAssertEqual(probe.status, 0, probe.stderr)
        let viaEnv = try CorsdProcess.run(["healthcheck"], environment: ["CORSD_LISTEN": "127.0.0.1:\(corsd.port)"])
        XCTAssertEqual(viaEnv.status, 0, viaEnv.stderr)
        corsd.stop()
        let nobody = try CorsdProcess.run(["healthcheck", "--url", "http://127.0.0.1:\(corsd.port)/readyz", "--timeout", "2"])
        XCTAssertEqual(nobody.status, 1)
        XCTAssertTrue(nobody.stderr.contains("127.0.0.1:\(corsd.port)"), nobody.stderr)
    }

    func testABackupRestoresIntoAFreshServer() throws {
        let corsd = try CorsdProcess(environment: ["CORSD_ADMIN_TOKEN": Self.admin], debugRoutes: false)
        let api = APIClient(port: corsd.port, token: Self.admin)
        XCTAssertEqual(try api.call("PUT", "/api/v1/deployments/omero", json: #"{"upstream":"http://127.0.0.1:4080"}"#).status, 201)
        XCTAssertEqual(try api.call("PUT", "/api/v1/deployments/omero", json: #"{"upstream":"http://127.0.0.1:4080","description":"second"}"#).status, 200)
        let backup = CorsdProcess.temporaryDirectory() + "/backup.sqlite"
        let made = try CorsdProcess.run(["backup", "--db", corsd.databasePath, backup])
        XCTAssertEqual(made.status, 0, made.stderr)
        let again = try CorsdProcess.run(["backup", "--db", corsd.databasePath, backup])
        XCTAssertEqual(again.status, 1, "never overwrites")
        let before = try api.call("GET", "/api/v1/deployments/omero")
        corsd.stop()

        let restored = try CorsdProcess(databasePath: backup, environment: ["CORSD_ADMIN_TOKEN": Self.admin], debugRoutes: false)
        defer { restored.stop() }
        let after = try APIClient(port: restored.port, token: Self.admin).call("GET", "/api/v1/deployments/omero")
        XCTAssertEqual(after.status, 200)
        XCTAssertEqual(after.field("etag"), before.field("etag"), "same revision")
        XCTAssertEqual(after.text, before.text)
        XCTAssertEqual((try APIClient(port: restored.port, token: Self.admin).call("GET", "/api/v1/deployments/omero/revisions").json["revisions"] as? [Any])?.count, 2)
    }
}

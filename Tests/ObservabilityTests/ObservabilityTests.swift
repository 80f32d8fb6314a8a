import Foundation
import HTTPCore
import HTTPTypes
import Logging
import Synchronization
import Testing

@testable import Observability

/// Metrics into a registry of the test's own (the real swift-prometheus exporter), log lines
/// into memory.
@Suite struct ObservabilityTests {
    func exchange(route: String?, method: HTTPRequest.Method? = .get, status: Int = 200, completed: Bool = true, notes: (inout ExchangeNotes) -> Void = { _ in }) -> ExchangeRecord {
        var n = ExchangeNotes()
        n.route = route
        notes(&n)
        return ExchangeRecord(method: method, status: status, bodyBytes: 1234, durationNanoseconds: 1_500_000, completed: completed,
                              remote: try? SocketAddress(parsing: "127.0.0.1:5000"), notes: n)
    }

    @Test func requestsAreCountedByRouteTemplateAndCode() {
        let metrics = CorsdMetrics()
        metrics.record(exchange(route: "/api/v1/deployments/{name}"))
        metrics.record(exchange(route: "/api/v1/deployments/{name}"))
        metrics.record(exchange(route: "/api/v1/deployments/{name}", status: 404))
        metrics.record(exchange(route: nil, status: 404))
        metrics.record(exchange(route: nil, method: nil, status: 400))
        metrics.record(exchange(route: "/tiles/{deployment}/{path...}", completed: false))
        for _ in 0..<2 {
            metrics.record(exchange(route: "/tiles/{deployment}/{path...}", status: 403) {
                $0.deployment = "omero"
                $0.corsAction = "refuse"
                $0.corsRule = "origin_not_allowed"
            })
        }
        let text = metrics.registry.emitToString()
        #expect(text.contains(#"corsd_http_requests_total{route="/api/v1/deployments/{name}",code="200"} 2"#), "\(text)")
        #expect(text.contains(#"corsd_http_requests_total{route="/api/v1/deployments/{name}",code="404"} 1"#))
        #expect(text.contains(#"corsd_http_requests_total{route="unmatched",code="404"} 1"#))
        #expect(text.contains(#"corsd_http_requests_total{route="rejected",code="400"} 1"#))
        #expect(text.contains(#"corsd_http_requests_total{route="/tiles/{deployment}/{path...}",code="aborted"} 1"#))
        #expect(text.contains(#"corsd_http_request_duration_seconds_bucket{route="/api/v1/deployments/{name}",le="0.0025"} 3"#))
        #expect(text.contains(#"corsd_http_request_duration_seconds_bucket{route="/api/v1/deployments/{name}",le="0.001"} 0"#))
        #expect(text.contains(#"corsd_cors_decisions_total{deployment="omero",action="refuse",rule="origin_not_allowed"} 2"#))
        #expect(!text.contains(#"corsd_cors_decisions_total{deployment="","#), "only exchanges the proxy noted count as decisions")
    }

    @Test func scrapeGaugesFollowTheServerAndDropDeletedDeployments() {
        let metrics = CorsdMetrics()
        var snapshot = CorsdMetrics.Snapshot(connections: ConnectionCounts(open: 3, handling: 1), tileCacheBytes: 4096,
                                             revisions: ["omero-prod": 7, "omero-test": 2], version: "9.9.9")
        metrics.update(from: snapshot)
        var text = metrics.registry.emitToString()
        for line in [#"corsd_connections{state="open"} 3.0"#, #"corsd_connections{state="handling"} 1.0"#, "corsd_tile_cache_bytes 4096.0",
                     #"corsd_deployment_revision{deployment="omero-prod"} 7.0"#, #"corsd_build_info{version="9.9.9"} 1.0"#] {
            #expect(text.contains(line + "\n"), "\(line) in \(text)")
        }
        #expect(text.contains("corsd_open_fds "))
        #expect(text.contains("corsd_fd_limit "))
        snapshot.revisions = ["omero-prod": 8]
        metrics.update(from: snapshot)
        text = metrics.registry.emitToString()
        #expect(text.contains(#"corsd_deployment_revision{deployment="omero-prod"} 8.0"#))
        #expect(!text.contains("omero-test"), "a deleted deployment leaves no series")
    }

    @Test func anAccessLogLineIsOneJSONObjectWithoutThePath() throws {
        let line = AccessLog.line(exchange(route: "/tiles/{deployment}/{path...}") {
            $0.deployment = "omero-prod"
            $0.origin = "https://viewer.example.org"
            $0.corsRule = "allowed_origins"
            $0.cache = "hit"
        }, at: Date(timeIntervalSince1970: 1_800_000_000))
        #expect(!line.contains(UInt8(ascii: "\n")))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
        #expect(object["time"] as? String == "2027-01-15T08:00:00.000Z")
        #expect(object["method"] as? String == "GET")
        #expect(object["route"] as? String == "/tiles/{deployment}/{path...}")
        #expect(object["status"] as? Int == 200)
        #expect(object["bytes"] as? Int == 1234)
        #expect(object["duration_s"] as? Double == 0.0015)
        #expect(object["deployment"] as? String == "omero-prod")
        #expect(object["origin"] as? String == "https://viewer.example.org")
        #expect(object["cors_rule"] as? String == "allowed_origins")
        #expect(object["cache"] as? String == "hit")
        #expect(object["client"] as? String == "127.0.0.1")
    }

    @Test func theAccessLogWritesEveryLineByShutdown() throws {
        let path = NSTemporaryDirectory() + "corsd-access-\(UUID().uuidString).log"
        let log = try AccessLog(path: path)
        for _ in 0..<1000 { log.record(exchange(route: "/healthz")) }
        log.flush()
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 1000)
        #expect(lines.allSatisfy { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) != nil })
    }

    @Test func jsonLogLinesCarryMessageLevelAndMetadata() throws {
        let captured = Mutex<[UInt8]>([])
        var handler = JSONLogHandler(label: "corsd") { bytes in captured.withLock { $0 += bytes } }
        handler.logLevel = .info
        let logger = Logger(label: "corsd") { _ in handler }
        logger.notice("policy changed", metadata: ["deployment": "omero-prod", "changed": .array(["cors.allowed_origins", "limits"]),
                                                   "quote": "a \"b\"\nc"])
        logger.debug("not at info")
        let text = String(decoding: captured.withLock { $0 }, as: UTF8.self)
        let lines = text.split(separator: "\n")
        #expect(lines.count == 1, "one line, newlines in values escaped: \(text)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(object["message"] as? String == "policy changed")
        #expect(object["level"] as? String == "notice")
        #expect(object["label"] as? String == "corsd")
        #expect(object["deployment"] as? String == "omero-prod")
        #expect(object["changed"] as? [String] == ["cors.allowed_origins", "limits"])
        #expect(object["quote"] as? String == "a \"b\"\nc")
        #expect(object["time"] is String)
    }
}

@Suite struct AccessLogFileTests {
    @Test func linesAreAppendedAtTheEndEvenAfterTheFileIsTruncated() throws {
        let path = NSTemporaryDirectory() + "corsd-access-\(UUID().uuidString).log"
        try "an earlier line\n".write(toFile: path, atomically: false, encoding: .utf8)
        let log = try AccessLog(path: path)
        var record = ExchangeNotes()
        record.route = "/healthz"
        let exchange = ExchangeRecord(method: .get, status: 200, bodyBytes: 1, durationNanoseconds: 1, completed: true, remote: nil, notes: record)
        log.record(exchange)
        log.flush()
        #expect(try String(contentsOfFile: path, encoding: .utf8).hasPrefix("an earlier line\n{"), "appended, not overwritten")
        #expect(truncate(path, 0) == 0)  // what logrotate's copytruncate does
        log.record(exchange)
        log.flush()
        let after = try String(contentsOfFile: path, encoding: .utf8)
        #expect(after.hasPrefix("{"), "no hole of zero bytes where the old lines were: \(after.prefix(20).debugDescription)")
    }
}

import Foundation
import TestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// One descriptor budget covers client connections and upstream connections, busy or idle:
/// under `ulimit -n 128`, with four slow upstreams and far more clients than fit, corsd answers
/// (200, 503 or 504), never runs out of descriptors and never dies.
final class DescriptorBudgetTests: XCTestCase {
    func testFourSlowUpstreamsUnderUlimit128NeverReachEMFILE() throws {
        // Slow: each answer takes a second, so connections pile up on every side.
        let upstreams = try (0..<4).map { _ in
            try RawServer(backlog: 256) { connection in
                while connection.readHead() != nil {
                    usleep(1_000_000)
                    connection.send("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ntile")
                }
            }
        }
        defer { upstreams.forEach { $0.stop() } }
        let admin = "budget-admin"
        let corsd = try CorsdProcess(environment: ["CORSD_ADMIN_TOKEN": admin], debugRoutes: false, openFileLimit: 128)
        defer { corsd.stop() }
        let api = APIClient(port: corsd.port, token: admin)
        for (i, upstream) in upstreams.enumerated() {
            XCTAssertEqual(try api.call("PUT", "/api/v1/deployments/slow\(i)", json: #"{"upstream":"http://127.0.0.1:\#(upstream.port)"}"#).status, 201)
        }
        var statuses: [Int: Int] = [:]
        // Each round sends every client to one upstream, so its pool fills while the pools of the
        // upstreams before it still hold their idle connections: without one budget for all of
        // them, the fourth round runs out of descriptors.
        for round in 0..<8 {
            var clients: [RawSocket] = []
            for i in 0..<160 {
                guard let socket = try? RawSocket(port: corsd.port, receiveTimeout: 30) else { continue }
                try? socket.send("GET /tiles/slow\(round % 4)/ome_seadragon/deepzoom/get/\(round * 1000 + i)_files/0/0_0.jpeg HTTP/1.1\r\nHost: corsd\r\nConnection: close\r\n\r\n")
                clients.append(socket)
            }
            XCTAssertLessThanOrEqual(try openDescriptors(corsd.pid), 128)
            for socket in clients {
                if let r = try? socket.readResponse() { statuses[r.status, default: 0] += 1 }
            }
        }
        XCTAssertEqual(kill(corsd.pid, 0), 0, "corsd is alive")
        XCTAssertTrue(Set(statuses.keys).isSubset(of: [200, 503, 504]), "\(statuses)")
        XCTAssertGreaterThan(statuses[200] ?? 0, 0, "some tiles got through: \(statuses)")
        XCTAssertGreaterThan(statuses[503] ?? 0, 0, "the budget was reached and answered 503: \(statuses)")
        XCTAssertFalse(corsd.stderr.contains("Too many open files"), "EMFILE was reached:\n\(corsd.stderr.suffix(2000))")
        // Still serving once the load is gone. The last round's connections close as their
        // clients' FINs arrive; until then the cap answers 503 (with Retry-After), which a
        // client retries: so does this check, within a deadline.
        let deadline = Date().addingTimeInterval(10)
        var status = try api.call("GET", "/api/v1/deployments").status
        while status == 503 && Date() < deadline {
            usleep(100_000)
            status = try api.call("GET", "/api/v1/deployments").status
        }
        XCTAssertEqual(status, 200)
    }

    private func openDescriptors(_ pid: Int32) throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count
    }
}

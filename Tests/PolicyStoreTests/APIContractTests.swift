import Foundation
import HTTPCore
import Logging
import ManagementAPI
import PolicyStore
import XCTest

/// Every route the server has is in openapi.yaml, and every operation there is a route.
final class APIContractTests: XCTestCase {
    func testRoutesAndOpenAPIAgree() throws {
        let pool = try CorsdDatabase.open(path: NSTemporaryDirectory() + "corsd-contract-\(UUID().uuidString).sqlite")
        try CorsdDatabase.migrate(pool)
        var router = Router()
        ManagementAPI.installHealth(on: &router)
        ManagementAPI(store: PolicyStore(pool: pool), tokens: try TokenStore(pool: pool), logger: Logger(label: "test")).install(on: &router)
        let served = Set(router.patterns.map { "\($0.method?.rawValue ?? "ANY") \($0.pattern)" })

        let spec = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("openapi.yaml")
        var documented = Set<String>()
        var path: String?
        for line in try String(contentsOf: spec, encoding: .utf8).split(separator: "\n") {
            if let m = line.wholeMatch(of: /\ \ (\/[^:]*):/) { path = String(m.1); continue }
            if !line.hasPrefix("  ") { path = nil }
            if let path, let m = line.wholeMatch(of: /\ {4}(get|put|post|patch|delete):/) {
                documented.insert("\(m.1.uppercased()) \(path)")
            }
        }
        XCTAssertFalse(documented.isEmpty)
        XCTAssertEqual(served.subtracting(documented), [], "served but not in openapi.yaml")
        XCTAssertEqual(documented.subtracting(served), [], "in openapi.yaml but not served")
    }
}

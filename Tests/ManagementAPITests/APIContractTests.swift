import CorsdBase
import Foundation
import Testing

/// openapi.yaml is the contract: every route the server has is an operation there and the other
/// way round, and every `rule` a problem can name is in its `Rule` enum with its meaning.
@Suite struct APIContractTests {
    static let spec: String = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("openapi.yaml")
        return (try? String(contentsOf: url, encoding: .utf8)) ?? ""
    }()

    @Test func routesAndOpenAPIAgree() async throws {
        let api = try await TestAPI()
        let served = Set(api.router.patterns.map { "\($0.method?.rawValue ?? "ANY") \($0.pattern)" })
        var documented = Set<String>()
        var path: String?
        for line in Self.spec.split(separator: "\n") {
            if let m = line.wholeMatch(of: /\ \ (\/[^:]*):/) { path = String(m.1); continue }
            if !line.hasPrefix("  ") { path = nil }
            if let path, let m = line.wholeMatch(of: /\ {4}(get|put|post|patch|delete):/) {
                documented.insert("\(m.1.uppercased()) \(path)")
            }
        }
        #expect(!documented.isEmpty)
        #expect(served.subtracting(documented) == [], "served but not in openapi.yaml")
        #expect(documented.subtracting(served) == [], "in openapi.yaml but not served")
    }

    @Test func everyRuleIsListedWithItsMeaning() throws {
        // The Rule schema: `enum:` then `x-meanings:` (rule: meaning), in Rule's order.
        let section = try #require(Self.spec.firstRange(of: "    Rule:\n").map { Self.spec[$0.upperBound...] })
        let listed = section.split(separator: "\n").prefix { $0.hasPrefix("      ") }
            .compactMap { $0.wholeMatch(of: /\ {8}([a-z0-9_]+): .+/).map { String($0.1) } }
        #expect(listed == Rule.allCases.map(\.rawValue))
        for rule in Rule.allCases {
            #expect(section.contains("        \(rule.rawValue): \(rule.meaning)\n"), "\(rule.rawValue)'s meaning differs from Rule.meaning")
        }
    }
}

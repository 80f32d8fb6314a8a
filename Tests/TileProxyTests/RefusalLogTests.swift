import Testing

@testable import TileProxy

@Suite struct RefusalLogTests {
    @Test func onceAMinutePerDeploymentAndOriginWithTheCountLeftOut() {
        let log = RefusalLog(intervalSeconds: 60, capacity: 100)
        let s: UInt64 = 1_000_000_000
        #expect(log.shouldLog(deployment: "d", origin: "https://a.example", now: 10 * s) == 0)
        #expect(log.shouldLog(deployment: "d", origin: "https://a.example", now: 11 * s) == nil)
        #expect(log.shouldLog(deployment: "d", origin: "https://a.example", now: 12 * s) == nil)
        #expect(log.shouldLog(deployment: "d", origin: "https://b.example", now: 12 * s) == 0, "another origin has its own budget")
        #expect(log.shouldLog(deployment: "e", origin: "https://a.example", now: 12 * s) == 0, "another deployment too")
        #expect(log.shouldLog(deployment: "d", origin: "https://a.example", now: 70 * s) == 2, "a minute on: logged, with the two left out")
        #expect(log.shouldLog(deployment: "d", origin: "https://a.example", now: 71 * s) == nil)
    }

    @Test func aFloodOfInventedOriginsStaysBounded() {
        let log = RefusalLog(intervalSeconds: 60, capacity: 100)
        for i in 0..<10_000 { _ = log.shouldLog(deployment: "d", origin: "https://\(i).example", now: 1) }
        #expect(log.count <= 100)
    }
}

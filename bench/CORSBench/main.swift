// Per-request cost of a CORS decision (the tile proxy makes one per request).
// Usage: swift run -c release cors-bench
import CORSPolicy
import Foundation

func measure(_ name: String, iterations: Int = 2_000_000, _ body: () -> Int) {
    var best = Double.infinity
    for _ in 0..<5 {
        let start = DispatchTime.now().uptimeNanoseconds
        let sink = body()
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start)
        if sink == -1 { print("") }  // keep the work observable
        best = min(best, elapsed / Double(iterations))
    }
    print(name.padding(toLength: 34, withPad: " ", startingAt: 0) + String(format: "%8.1f ns/decision (best of 5 x %d)", best, iterations))
}

var settings = CORSSettings()
settings.allowedOrigins = (0..<50).map { try! Origin(parsing: "https://viewer\($0).example.org") }
settings.allowedOriginPatterns = [try! OriginPattern(parsing: "https://*.lab.example.org")]
settings.exposeHeaders = ["ETag"]
let engine = CORSEngine(settings)
let n = 2_000_000

measure("exact-origin hit (GET)") {
    var total = 0
    for _ in 0..<n { total &+= engine.decide(CORSRequest(origin: "https://viewer7.example.org", method: "GET")).headers.count }
    return total
}
measure("no Origin (GET)") {
    var total = 0
    for _ in 0..<n { total &+= engine.decide(CORSRequest(origin: nil, method: "GET")).headers.count }
    return total
}
measure("wildcard pattern hit (GET)", iterations: 200_000) {
    var total = 0
    for _ in 0..<200_000 { total &+= engine.decide(CORSRequest(origin: "https://a.lab.example.org", method: "GET")).headers.count }
    return total
}
measure("preflight, exact-origin hit", iterations: n) {
    var total = 0
    for _ in 0..<n { total &+= engine.decide(CORSRequest(origin: "https://viewer7.example.org", method: "OPTIONS", requestMethod: "GET")).headers.count }
    return total
}

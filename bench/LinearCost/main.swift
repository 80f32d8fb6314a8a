// Per-request cost of every path fed by untrusted bytes, at 1x, 10x and 100x input size: the
// cost per byte must stay flat (linear growth). Usage: swift run -c release linear-bench
import CORSPolicy
import CorsdModel
import Foundation
import HTTPCore
import HTTPTypes
import TileProxy

/// Best of 5 runs, nanoseconds per call.
func nanos(_ iterations: Int, _ body: () -> Int) -> Double {
    var best = Double.infinity
    for _ in 0..<5 {
        let start = DispatchTime.now().uptimeNanoseconds
        let sink = body()
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start)
        if sink == -1 { print("") }
        best = min(best, elapsed / Double(iterations))
    }
    return best
}

/// One table row per size: ns per call and ns per input byte.
func row(_ name: String, sizes: [Int], budgetBytes: Int = 4_000_000, _ make: (Int) -> (bytes: Int, run: () -> Int)) {
    var cells: [String] = []
    var perByte: [Double] = []
    for size in sizes {
        let (bytes, run) = make(size)
        let iterations = max(10, budgetBytes / max(bytes, 1))
        let ns = nanos(iterations) {
            var total = 0
            for _ in 0..<iterations { total &+= run() }
            return total
        }
        perByte.append(ns / Double(bytes))
        cells.append(String(format: "%d B: %.0f ns (%.2f ns/B)", bytes, ns, ns / Double(bytes)))
    }
    let growth = perByte.last! / perByte.first!
    print("| \(name) | " + cells.joined(separator: " | ") + String(format: " | %.2f |", growth))
}

print("| untrusted input | 1x | 10x | 100x | ns/B at 100x ÷ ns/B at 1x |")
print("|---|---|---|---|---|")

// 1. A CORS decision on a long Origin (the header a client controls), both modes, with patterns.
for mode in [CORSMode.reject, .compatible] {
    var s = CORSSettings()
    s.mode = mode
    s.allowedOrigins = [try! Origin(parsing: "https://viewer.example.org")]
    s.allowedOriginPatterns = [try! OriginPattern(parsing: "https://*.lab.example.org"), try! OriginPattern(parsing: #"https://tiles[0-9]{1,3}\.example\.(?:net|com)"#)]
    let engine = CORSEngine(s)
    row("CORS decision, \(mode) mode, Origin of N bytes (refused above 2 KiB)", sizes: [20, 200, 2000]) { n in
        let origin = "https://" + String(repeating: "a.", count: max(1, (n - 25) / 2)) + "lab.example.org"
        return (origin.utf8.count, { engine.decide(CORSRequest(origin: origin, method: "GET")).headers.count })
    }
}

// 2. Pattern matching on its own (the NFA), with an alternation-heavy pattern.
let regex = try! SubsetRegex(#"https?://(?:[a-z0-9-]+|x|xx|xxx)[a-z0-9.-]*(?::\d{1,5})?"#)
row("SubsetRegex match, N bytes", sizes: [20, 200, 2000]) { n in
    let text = "https://" + String(repeating: "x", count: n - 8)
    return (text.utf8.count, { regex.wholeMatches(text) ? 1 : 0 })
}

// 3. An allowed-origin value in a policy (IDN host → punycode), N scalars in labels of 50.
row("Origin parsing (policy input), IDN host of N scalars", sizes: [100, 1000, 10000]) { n in
    let label = String(repeating: "é", count: 50)
    let host = Array(repeating: label, count: max(1, n / 50)).joined(separator: ".")
    let text = "https://" + host
    return (text.utf8.count, { (try? Origin(parsing: text)) == nil ? 0 : 1 })
}

// 4. JSON bodies: wide documents, and deep ones (refused past 32 levels).
row("JSON body, N bytes of objects", sizes: [1000, 10_000, 100_000]) { n in
    let item = #"{"origin":"https://viewer.example.org","n":12345,"ok":true},"#
    let text = "[" + String(repeating: item, count: max(1, n / item.utf8.count)) + "1]"
    let bytes = Array(text.utf8)
    return (bytes.count, { (try? JSONValue.parse(bytes).get()) == nil ? 0 : 1 })
}
row("JSON body, N bytes of '[' (depth refused at 32)", sizes: [1000, 10_000, 100_000]) { n in
    let bytes = Array(repeating: UInt8(ascii: "["), count: n)
    return (bytes.count, { (try? JSONValue.parse(bytes).get()) == nil ? 0 : 1 })
}

// 5. A request head with N bytes of fields (the limit is 16 KiB).
row("request head, N bytes of fields", sizes: [150, 1500, 15000]) { n in
    let field = "X-Filler: " + String(repeating: "v", count: 88) + "\r\n"
    let head = "GET /tiles/d/ome_seadragon/deepzoom/get/1.dzi HTTP/1.1\r\nHost: corsd\r\n" + String(repeating: field, count: max(1, n / field.utf8.count)) + "\r\n"
    let bytes = Array(head.utf8)
    return (bytes.count, {
        var p = HTTPParser(mode: .request)
        p.feed(bytes[...])
        return (try? p.next()) == nil ? 0 : 1
    })
}

// 6. An upstream Cache-Control of N bytes, malformed directives included.
row("upstream Cache-Control, N bytes", sizes: [100, 1000, 10000]) { n in
    let directive = "max-age=99999999999999, =, s-maxage=\"5\", x, "
    var fields = HTTPFields()
    fields[.cacheControl] = String(repeating: directive, count: max(1, n / directive.utf8.count))
    let length = fields[.cacheControl]!.utf8.count
    return (length, { CacheRules.lifetime(fields, fallbackTTL: 60) })
}

// libFuzzer target for the proxy's upstream side. Arbitrary upstream response bytes, split at
// two fuzzer-chosen points, go through the response parser, the cache rules and the response
// builder, and are framed exactly as the server frames them (ResponseFraming, with the
// writer's Content-Length promise). Invariants:
// - no trap, no sanitizer report, whatever the bytes;
// - when corsd would complete the response, the bytes it would send parse as exactly one
//   well-framed response, carrying corsd's CORS headers and the upstream's body, and nothing
//   after it (no upstream-authored second response).
import HTTPCore
import HTTPTypes

private let viewer = "https://viewer.example.org"
private let cors: HTTPFields = {
    var f = HTTPFields()
    f[.vary] = "Origin"
    f[.accessControlAllowOrigin] = viewer
    return f
}()

private func relay(_ pieces: [ArraySlice<UInt8>], method: HTTPRequest.Method) {
    var parser = HTTPParser(mode: .response(requestMethod: method), limits: .upstreamResponse)
    var out: [UInt8] = []
    var framing: ResponseFraming?
    var remaining: Int?
    var upstreamBody: [UInt8] = []
    var complete = false
    do throws(HTTPParseError) {
        outer: for (index, piece) in pieces.enumerated() {
            parser.feed(piece)
            while true {
                var next = try parser.next()
                if next == nil && index == pieces.count - 1 { next = try parser.finish() }
                guard let event = next else { break }
                switch event {
                case .responseHead(let head):
                    _ = CacheRules.decide(head, fallbackTTL: 60)
                    _ = CacheFields.vary(head.response.headerFields)
                    let response = ResponseBuilder.head(status: head.response.status, fields: ResponseBuilder.endToEnd(head.response.headerFields),
                                                        cors: cors, source: .miss)
                    let f = ResponseFraming(response, contentLength: ResponseBuilder.contentLength(head, method: method), requestMethod: method,
                                            version: .http1_1, close: false, date: "Tue, 01 Dec 2026 00:00:00 GMT")
                    framing = f
                    remaining = f.remaining
                    out += MessageSerializer.responseHead(response, fields: f.fields)
                case .body(let bytes):
                    upstreamBody += bytes
                    guard let f = framing, !f.headOnly else { continue }
                    if let r = remaining {
                        guard bytes.count <= r else { return }  // the writer drops the connection
                        remaining = r - bytes.count
                    }
                    out += f.chunked ? MessageSerializer.chunk(bytes) : bytes
                case .end:
                    guard let f = framing, (remaining ?? 0) == 0 else { return }  // short: dropped
                    if f.chunked { out += MessageSerializer.lastChunk }
                    complete = true
                    break outer
                case .requestHead:
                    fatalError("a response parser produced a request head")
                }
            }
        }
    } catch {
        return  // before the head: corsd's own 502; after it: the connection is dropped
    }
    guard complete, let f = framing else { return }
    check(out, method: method, expectedBody: f.headOnly ? [] : upstreamBody)
}

private func check(_ bytes: [UInt8], method: HTTPRequest.Method, expectedBody: [UInt8]) {
    var parser = HTTPParser(mode: .response(requestMethod: method))
    parser.feed(bytes[...])
    var heads = 0, ends = 0
    var body: [UInt8] = []
    do throws(HTTPParseError) {
        while let event = try parser.next() {
            switch event {
            case .responseHead(let head):
                heads += 1
                guard head.response.headerFields[.accessControlAllowOrigin] == viewer,
                      head.response.headerFields[values: .vary].joined(separator: ",").lowercased().contains("origin")
                else { fatalError("corsd's CORS headers are missing: \(head.response.headerFields)") }
            case .body(let b): body += b
            case .end: ends += 1
            case .requestHead: fatalError("request head in a response")
            }
        }
        if let event = try parser.finish() { fatalError("bytes after the response: \(event)") }
    } catch {
        fatalError("corsd's own response does not parse: \(error)\n\(String(decoding: bytes, as: UTF8.self))")
    }
    guard heads == 1, ends == 1 else { fatalError("\(heads) heads and \(ends) ends in one relayed response") }
    guard body == expectedBody else { fatalError("the body changed on the way: \(body.count) bytes, expected \(expectedBody.count)") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 2 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let input = bytes[2...]
    let a = input.startIndex + Int(bytes[0]) % input.count, b = input.startIndex + Int(bytes[1]) % input.count
    let (first, second) = (min(a, b), max(a, b))
    for method in [HTTPRequest.Method.get, .head] {
        relay([input[..<first], input[first..<second], input[second...]], method: method)
    }
    return 0
}

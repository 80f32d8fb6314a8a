// libFuzzer target for the RFC 9112 parser. Two properties on every input:
// - no crash, no hang, no sanitizer report, in request and response mode;
// - parsing the input whole and split at an input-chosen point gives the same events
//   (the parser is incremental: bytes may arrive split anywhere).
import HTTPTypes

private func events(_ pieces: [ArraySlice<UInt8>], mode: HTTPParser.Mode) -> [String] {
    var parser = HTTPParser(mode: mode)
    var out: [String] = []
    var body: [UInt8] = []
    do throws(HTTPParseError) {
        for piece in pieces {
            parser.feed(piece)
            while let event = try parser.next() {
                switch event {
                case .requestHead(let h): out.append("req \(h.request.method.rawValue) \(h.request.path ?? "") \(h.version) \(h.framing) \(h.request.headerFields.count)")
                case .responseHead(let h): out.append("res \(h.response.status.code) \(h.framing)")
                case .body(let b): body += b
                case .end:
                    out.append("body \(body.count) \(body.reduce(0) { $0 &* 31 &+ Int($1) })")
                    body = []
                }
                if out.count > 1000 { return out }
            }
        }
        if let event = try parser.finish(), case .end = event { out.append("eof-end \(body.count)") }
    } catch {
        out.append("error \(error.status.code)")
    }
    return out
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 0 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let split = Int(bytes[0]) % size
    let input = bytes[...]
    for mode in [HTTPParser.Mode.request, .response(requestMethod: .get)] {
        let whole = events([input], mode: mode)
        let halves = events([input[..<split], input[split...]], mode: mode)
        if whole != halves {
            fatalError("split at \(split) changed the parse:\n\(whole)\n\(halves)")
        }
    }
    return 0
}

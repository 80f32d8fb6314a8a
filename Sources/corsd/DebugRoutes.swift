import Dispatch
import HTTPCore
import HTTPRouting
import HTTPTypes
import Logging

/// Routes that exercise the HTTP core from the outside: the integration tests, the soak and
/// the throughput benchmark use them against the real binary. Enabled only by
/// `--enable-debug-routes`.
enum DebugRoutes {
    static let maxBytes = 64 << 20

    static func install(on router: inout Router) {
        // Echoes the request body (tests chunked and 100-continue uploads).
        router.addStreaming(.post, "/debug/echo") { request, _, writer in
            var fields = HTTPFields()
            fields[.contentType] = "application/octet-stream"
            writer.respond(HTTPResponse(status: .ok, headerFields: fields), body: request.body)
        }
        // n bytes of 'x'; large bodies are streamed chunked with back-pressure.
        router.addStreaming(.get, "/debug/bytes/{n}") { _, context, writer in
            guard let n = context.parameters["n"].flatMap({ Int($0) }), (0...maxBytes).contains(n) else {
                writer.respond(Problem(status: .badRequest, detail: "n must be an integer from 0 to \(maxBytes)"))
                return
            }
            if n <= 1 << 20 {
                writer.respond(HTTPResponse(status: .ok), body: [UInt8](repeating: 0x78, count: n))
            } else {
                writer.writeHead(HTTPResponse(status: .ok), contentLength: nil)
                stream(remaining: n, to: writer)
            }
        }
        // Answers after a delay (tests graceful shutdown and client timeouts).
        router.addStreaming(.get, "/debug/delay/{ms}") { _, context, writer in
            guard let ms = context.parameters["ms"].flatMap({ Int($0) }), (0...600_000).contains(ms) else {
                writer.respond(Problem(status: .badRequest, detail: "ms must be an integer from 0 to 600000"))
                return
            }
            // Logged so tests can see the request is in the handler before acting.
            Logger(label: "corsd.debug").info("delaying response by \(ms) ms")
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(ms)) {
                var fields = HTTPFields()
                fields[.contentType] = "application/json"
                writer.respond(Response(status: .ok, headerFields: fields, body: Array("{\"delayed_ms\":\(ms)}".utf8)))
            }
        }
    }

    private static func stream(remaining: Int, to writer: HTTPResponseWriter) {
        guard remaining > 0 else {
            writer.end()
            return
        }
        let piece = min(remaining, 64 * 1024)
        writer.writeBody([UInt8](repeating: 0x78, count: piece)) {
            stream(remaining: remaining - piece, to: writer)
        }
    }
}

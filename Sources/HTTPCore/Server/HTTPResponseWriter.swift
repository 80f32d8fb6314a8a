import HTTPTypes

/// Writes the response to one request, whole or streamed. Every method may be called from
/// any thread; the work hops to the connection's queue, so calls are applied in order.
///
/// A streaming producer calls `writeHead`, then `writeBody` repeatedly, waiting for each
/// `onFlushed` before sending more (back-pressure), then `end()`. If the producer fails after
/// the head was sent, `abort()` closes the connection so the client sees a truncated message
/// rather than a wrong one.
public final class HTTPResponseWriter: Sendable {
    private let connection: ServerConnection
    private let exchangeID: UInt64

    init(connection: ServerConnection, exchangeID: UInt64) {
        self.connection = connection
        self.exchangeID = exchangeID
    }

    /// Sends a complete response. `Content-Length`, `Date` and `Connection` are set here.
    public func respond(_ response: HTTPResponse, body: [UInt8] = []) {
        let c = connection, id = exchangeID
        c.perform {
            c.writeHead(id, response, contentLength: body.count)
            c.writeBody(id, body, onFlushed: nil)
            c.endResponse(id)
        }
    }

    /// Starts a response whose body follows. `contentLength: nil` streams it chunked
    /// (or close-delimited to an HTTP/1.0 client).
    public func writeHead(_ response: HTTPResponse, contentLength: Int?) {
        let c = connection, id = exchangeID
        c.perform { c.writeHead(id, response, contentLength: contentLength) }
    }

    /// Queues body bytes; `onFlushed` runs (on the connection's queue) once the socket has
    /// taken enough that the producer may send more.
    public func writeBody(_ bytes: [UInt8], onFlushed: (@Sendable () -> Void)? = nil) {
        let c = connection, id = exchangeID
        c.perform { c.writeBody(id, bytes, onFlushed: onFlushed) }
    }

    public func end() {
        let c = connection, id = exchangeID
        c.perform { c.endResponse(id) }
    }

    /// Registers a closure run if the client goes away before `end()`: a streaming producer
    /// uses it to stop. Runs at once if the client is already gone.
    public func onCancel(_ handler: @escaping @Sendable () -> Void) {
        let c = connection, id = exchangeID
        c.perform { c.setCancelHandler(id, handler) }
    }

    /// Adds to what the metrics and the access log learn about this exchange. Call it from the
    /// handler's synchronous part (the connection's queue, where the notes live: no lock).
    public func note(_ update: (inout ExchangeNotes) -> Void) {
        connection.note(exchangeID, update)
    }

    /// Drops the connection: the response cannot be completed.
    public func abort() {
        let c = connection, id = exchangeID
        c.perform { c.abortResponse(id) }
    }
}

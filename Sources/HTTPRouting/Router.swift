import CorsdBase
import HTTPCore
import HTTPTypes
import Logging

/// Named path segments captured by a route.
public struct Parameters: Sendable {
    var values: [String: Substring] = [:]

    public init() {}

    /// The raw (still percent-encoded) segment, if the route captured one of this name.
    public subscript(_ name: String) -> Substring? { values[name] }

    /// The percent-decoded segment. A route without it is a programming error (500); bad
    /// escapes are a 400 (`percent_encoding`).
    public func require(_ name: String) throws(Problem) -> String {
        guard let raw = values[name] else {
            throw Problem(status: .internalServerError, detail: "the route captures no parameter '\(name)'")
        }
        guard let decoded = PercentDecoding.decode(raw) else {
            throw Problem.field(name, .percentEncoding, "is not valid percent-encoding")
        }
        return decoded
    }

    /// The segment converted to `T`; one that does not convert names no resource (404).
    public func require<T: LosslessStringConvertible>(_ name: String, as type: T.Type) throws(Problem) -> T {
        let text = try require(name)
        guard let value = T(text) else { throw Problem(status: .notFound, detail: "'\(text)' is not a valid \(name)") }
        return value
    }
}

/// What a route knows of the request besides the request itself.
public struct RequestContext: Sendable {
    public var parameters: Parameters
    /// The matched route's template (`/api/v1/deployments/{name}`): a bounded label for logs
    /// and metrics, never the raw path.
    public var route: String
    public var logger: Logger
}

/// A route that returns its response; what it throws becomes a problem (see `HTTPResponseError`).
public typealias Responder = @Sendable (HTTPServerRequest, RequestContext) async throws -> Response
/// A route that writes its own response (streaming: the tile proxy).
public typealias StreamingResponder = @Sendable (HTTPServerRequest, RequestContext, HTTPResponseWriter) -> Void

/// Routes requests by method and path pattern.
///
/// Patterns are `/`-separated; `{name}` captures one segment and `{name...}` the (non-empty)
/// rest of the path. A path that matches no pattern is a 404; one that matches with another
/// method is a 405 with `Allow`. `HEAD` falls back to the `GET` route (the server sends no body).
/// Every error is `application/problem+json`.
public struct Router: Sendable {
    private enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
        case rest(String)
    }

    enum Handler: Sendable {
        case responder(Responder)
        case streaming(StreamingResponder)
    }

    private struct Route: Sendable {
        /// nil: every method.
        var method: HTTPRequest.Method?
        var segments: [Segment]
        var pattern: String
        var handler: Handler
    }

    enum Match {
        case found(Handler, Parameters, pattern: String)
        case methodNotAllowed(allowed: [HTTPRequest.Method])
        case notFound
    }

    private var routes: [Route] = []
    /// Candidate routes (indices into `routes`, in registration order) by the path's first
    /// segment, so a request only tries the routes that can match it.
    private var byFirstSegment: [String: [Int]] = [:]
    /// Routes whose first segment is a parameter: candidates for any path.
    private var anyFirstSegment: [Int] = []
    public var logger: Logger

    public init(logger: Logger = Logger(label: "corsd.http")) {
        self.logger = logger
    }

    public mutating func add(_ method: HTTPRequest.Method, _ pattern: String, _ responder: @escaping Responder) {
        add(method as HTTPRequest.Method?, pattern, .responder(responder))
    }

    /// A streaming route; `method` nil serves every method (the handler answers the methods
    /// it does not serve itself).
    public mutating func addStreaming(_ method: HTTPRequest.Method?, _ pattern: String, _ handler: @escaping StreamingResponder) {
        add(method, pattern, .streaming(handler))
    }

    private mutating func add(_ method: HTTPRequest.Method?, _ pattern: String, _ handler: Handler) {
        let segments = pattern.split(separator: "/").map { part -> Segment in
            if part.hasPrefix("{") && part.hasSuffix("...}") { return .rest(String(part.dropFirst().dropLast(4))) }
            if part.hasPrefix("{") && part.hasSuffix("}") { return .parameter(String(part.dropFirst().dropLast())) }
            return .literal(String(part))
        }
        let index = routes.count
        routes.append(Route(method: method, segments: segments, pattern: pattern, handler: handler))
        if case .literal(let first)? = segments.first {
            byFirstSegment[first, default: anyFirstSegment].append(index)
        } else {
            anyFirstSegment.append(index)
            for key in byFirstSegment.keys { byFirstSegment[key]?.append(index) }
        }
    }

    /// Every registered (method, pattern) pair, for checking the API contract (nil: any method).
    public var patterns: [(method: HTTPRequest.Method?, pattern: String)] { routes.map { ($0.method, $0.pattern) } }

    func match(method: HTTPRequest.Method, path: Substring) -> Match {
        // Split on the UTF-8 bytes: no Character (grapheme) work on a hot path.
        let parts = path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).dropFirst()
        let candidates = parts.first.flatMap { byFirstSegment[String(Substring($0))] } ?? anyFirstSegment
        var allowed: [HTTPRequest.Method] = []
        var getMatch: Route?
        for index in candidates {
            let route = routes[index]
            guard Self.matches(route.segments, parts) else { continue }
            guard let routeMethod = route.method, routeMethod != method else { return found(route, path, parts) }
            if method == .head && routeMethod == .get { getMatch = route }
            if !allowed.contains(routeMethod) { allowed.append(routeMethod) }
        }
        if let getMatch { return found(getMatch, path, parts) }
        if allowed.contains(.get) && !allowed.contains(.head) { allowed.append(.head) }
        return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed: allowed)
    }

    /// The server's handler: answers `request` with the matching route.
    public func handle(_ request: HTTPServerRequest, _ writer: HTTPResponseWriter) {
        let found = match(method: request.method, path: request.path)
        switch found {
        case .found(.streaming(let handler), let parameters, let pattern):
            writer.note { $0.route = pattern }
            handler(request, RequestContext(parameters: parameters, route: pattern, logger: logger), writer)
        case .found(.responder(let responder), let parameters, let pattern):
            writer.note { $0.route = pattern }
            let context = RequestContext(parameters: parameters, route: pattern, logger: logger)
            Task { writer.respond(await Self.run(responder, request, context)) }
        case .notFound, .methodNotAllowed:
            writer.respond(unmatched(found, request))
        }
    }

    /// Answers `request` in process, without a socket: the test client. Streaming routes are
    /// not served here (501).
    public func respond(to request: HTTPServerRequest) async -> Response {
        let found = match(method: request.method, path: request.path)
        switch found {
        case .found(.responder(let responder), let parameters, let pattern):
            return await Self.run(responder, request, RequestContext(parameters: parameters, route: pattern, logger: logger))
        case .found(.streaming, _, _):
            return Problem(status: .notImplemented, detail: "streaming routes need a connection").response
        case .notFound, .methodNotAllowed:
            return unmatched(found, request)
        }
    }

    private func unmatched(_ found: Match, _ request: HTTPServerRequest) -> Response {
        switch found {
        case .methodNotAllowed(let allowed):
            var fields = HTTPFields()
            fields[.allow] = allowed.map(\.rawValue).joined(separator: ", ")
            return Problem(status: .methodNotAllowed, detail: "\(request.method.rawValue) is not allowed here (allowed: \(allowed.map(\.rawValue).joined(separator: ", ")))",
                           headerFields: fields).response
        default:
            return Problem(status: .notFound, detail: "no route for \(request.path)").response
        }
    }

    /// Runs a responder; an `HTTPResponseError` becomes its problem, anything else a logged 500.
    static func run(_ responder: Responder, _ request: HTTPServerRequest, _ context: RequestContext) async -> Response {
        do {
            return try await responder(request, context)
        } catch let error as any HTTPResponseError {
            return error.response
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)", "route": "\(context.route)"])
            return Problem(status: .internalServerError, detail: "internal error; see the server log").response
        }
    }

    /// Whether `parts` (the path's segments) fit the route's segments; allocates nothing.
    private static func matches(_ segments: [Segment], _ parts: ArraySlice<Substring.UTF8View>) -> Bool {
        var index = parts.startIndex
        for (i, segment) in segments.enumerated() {
            guard index < parts.endIndex else { return false }
            switch segment {
            case .rest: return i == segments.count - 1
            case .literal(let text): guard parts[index].elementsEqual(text.utf8) else { return false }
            case .parameter: guard !parts[index].isEmpty else { return false }
            }
            index += 1
        }
        return index == parts.endIndex
    }

    /// The match for a route that `matches` accepted, with its parameters bound: slices of
    /// `path`, a rest parameter included (no copy).
    private func found(_ route: Route, _ path: Substring, _ parts: ArraySlice<Substring.UTF8View>) -> Match {
        var parameters = Parameters()
        for (segment, part) in zip(route.segments, parts) {
            switch segment {
            case .rest(let name): parameters.values[name] = path[part.startIndex...]
            case .parameter(let name): parameters.values[name] = Substring(part)
            case .literal: break
            }
        }
        return .found(route.handler, parameters, pattern: route.pattern)
    }
}

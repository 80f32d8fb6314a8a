import HTTPTypes

/// Named path segments captured by a route, raw (still percent-encoded).
public struct PathParameters: Sendable {
    var values: [String: String] = [:]
    public subscript(_ name: String) -> String? { values[name] }
}

/// Routes requests by method and path pattern.
///
/// Patterns are `/`-separated; `{name}` captures one segment and `{name...}` the (non-empty)
/// rest of the path. A path that matches no pattern is a 404; one that matches with another
/// method is a 405 with `Allow`. `HEAD` falls back to the `GET` route (the server sends no body).
public struct Router: Sendable {
    public typealias Handler = @Sendable (HTTPServerRequest, PathParameters, HTTPResponseWriter) -> Void

    private enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
        case rest(String)
    }

    private struct Route: Sendable {
        /// nil: every method.
        var method: HTTPRequest.Method?
        var segments: [Segment]
        var pattern: String
        var handler: Handler
    }

    public enum Match {
        case found(Handler, PathParameters, pattern: String)
        case methodNotAllowed(allowed: [HTTPRequest.Method])
        case notFound
    }

    private var routes: [Route] = []

    public init() {}

    public mutating func add(_ method: HTTPRequest.Method, _ pattern: String, _ handler: @escaping Handler) {
        add(method as HTTPRequest.Method?, pattern, handler)
    }

    /// A route for every method: the handler answers methods it does not serve itself.
    public mutating func addAnyMethod(_ pattern: String, _ handler: @escaping Handler) {
        add(nil, pattern, handler)
    }

    private mutating func add(_ method: HTTPRequest.Method?, _ pattern: String, _ handler: @escaping Handler) {
        let segments = pattern.split(separator: "/").map { part -> Segment in
            if part.hasPrefix("{") && part.hasSuffix("...}") { return .rest(String(part.dropFirst().dropLast(4))) }
            if part.hasPrefix("{") && part.hasSuffix("}") { return .parameter(String(part.dropFirst().dropLast())) }
            return .literal(String(part))
        }
        routes.append(Route(method: method, segments: segments, pattern: pattern, handler: handler))
    }

    /// Every registered (method, pattern) pair, for checking the API contract (nil: any method).
    public var patterns: [(method: HTTPRequest.Method?, pattern: String)] { routes.map { ($0.method, $0.pattern) } }

    public func match(method: HTTPRequest.Method, path: Substring) -> Match {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        var allowed: [HTTPRequest.Method] = []
        var getMatch: (Route, PathParameters)?
        for route in routes {
            guard let parameters = Self.bind(route.segments, to: parts) else { continue }
            guard let routeMethod = route.method else { return .found(route.handler, parameters, pattern: route.pattern) }
            if routeMethod == method { return .found(route.handler, parameters, pattern: route.pattern) }
            if method == .head && routeMethod == .get { getMatch = (route, parameters) }
            if !allowed.contains(routeMethod) { allowed.append(routeMethod) }
        }
        if let (route, parameters) = getMatch { return .found(route.handler, parameters, pattern: route.pattern) }
        if allowed.contains(.get) && !allowed.contains(.head) { allowed.append(.head) }
        return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed: allowed)
    }

    /// Answers `request` with the matching route, or a problem+json 404/405.
    public func handle(_ request: HTTPServerRequest, _ writer: HTTPResponseWriter) {
        switch match(method: request.method, path: request.path) {
        case .found(let handler, let parameters, _):
            handler(request, parameters, writer)
        case .notFound:
            writer.respond(Problem(status: .notFound, detail: "no route for \(request.path)"))
        case .methodNotAllowed(let allowed):
            var fields = HTTPFields()
            fields[.allow] = allowed.map(\.rawValue).joined(separator: ", ")
            writer.respond(Problem(status: .methodNotAllowed, detail: "\(request.method.rawValue) is not allowed here"), extraFields: fields)
        }
    }

    private static func bind(_ segments: [Segment], to parts: ArraySlice<Substring>) -> PathParameters? {
        var parameters = PathParameters()
        var index = parts.startIndex
        for (i, segment) in segments.enumerated() {
            switch segment {
            case .rest(let name):
                guard index < parts.endIndex, i == segments.count - 1 else { return nil }
                parameters.values[name] = parts[index...].joined(separator: "/")
                return parameters
            case .literal(let text):
                guard index < parts.endIndex, parts[index] == text else { return nil }
            case .parameter(let name):
                guard index < parts.endIndex, !parts[index].isEmpty else { return nil }
                parameters.values[name] = String(parts[index])
            }
            index += 1
        }
        return index == parts.endIndex ? parameters : nil
    }
}

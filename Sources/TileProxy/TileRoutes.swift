/// The tile endpoints a cross-origin viewer fetches (domain brief §4), and nothing else.
///
/// A path is accepted only if every segment is plain (`[A-Za-z0-9_.,-]`, never `.` or `..`,
/// so no traversal and no encoded `/`, `\` or NUL can pass), it matches one of the routes,
/// and then only the query parameters that route takes are passed on.
public enum TileRoutes {
    /// A matched route: the upstream path (relative, no leading slash) and its query.
    public struct Match: Equatable, Sendable {
        public var path: String
        public var query: String
        public var route: String
    }

    private enum Part: Sendable {
        case literal(String)
        /// A segment matching the predicate.
        case segment(@Sendable (Substring) -> Bool)
        /// Zero to `count` trailing optional segments matching the predicate.
        case optional(Int, @Sendable (Substring) -> Bool)
    }

    private struct Route: Sendable {
        var name: String
        var parts: [Part]
        var query: Set<String>
    }

    static let deepzoomQuery: Set<String> = ["tile_size", "limit_bounds"]
    static let renderQuery: Set<String> = ["tile", "region", "c", "m", "p", "q", "ia", "maps", "format", "zm", "x", "y"]

    @Sendable private static func isID(_ s: Substring) -> Bool { !s.isEmpty && s.allSatisfy { $0.isLetter && $0.isASCII || $0.isNumber && $0.isASCII || "_-.".contains($0) } }
    @Sendable private static func isNumber(_ s: Substring) -> Bool { !s.isEmpty && s.count <= 12 && s.allSatisfy { $0.isASCII && $0.isNumber } }
    private static func suffixed(_ suffixes: [String], id: @escaping @Sendable (Substring) -> Bool = isID) -> @Sendable (Substring) -> Bool {
        { s in suffixes.contains { s.hasSuffix($0) && id(s.dropLast($0.count)) } }
    }
    private static func tileName(_ formats: [String]) -> @Sendable (Substring) -> Bool {
        { s in
            guard let dot = s.lastIndex(of: "."), formats.contains(String(s[s.index(after: dot)...])) else { return false }
            let cr = s[..<dot].split(separator: "_", omittingEmptySubsequences: false)
            return cr.count == 2 && cr.allSatisfy(isNumber)
        }
    }

    private static let routes: [Route] = {
        var routes: [Route] = []
        for (prefix, formats, extraQuery) in [("", ["jpeg", "jpg", "png"], Set<String>()), ("mirax/", ["jpeg", "jpg", "png"], []), ("arrays/", ["png"], ["palette"])] {
            let base = "ome_seadragon/\(prefix)deepzoom/"
            func route(_ name: String, _ parts: [Part]) {
                routes.append(Route(name: base + name, parts: (base.split(separator: "/").map { .literal(String($0)) }) + parts, query: deepzoomQuery.union(extraQuery)))
            }
            route("get/<id>.dzi|.json|_metadata.json", [.literal("get"), .segment(suffixed([".dzi", ".json", "_metadata.json"]))])
            route("get/<id>_files/<level>/<c>_<r>.<fmt>", [.literal("get"), .segment(suffixed(["_files"])), .segment(isNumber), .segment(tileName(formats))])
            route("get/thumbnail/<id>.dzi", [.literal("get"), .literal("thumbnail"), .segment(suffixed([".dzi"]))])
            route("image_mpp/<id>.dzi", [.literal("image_mpp"), .segment(suffixed([".dzi"]))])
            route("slide_bounds/<id>.dzi", [.literal("slide_bounds"), .segment(suffixed([".dzi"]))])
        }
        let w = [Part.literal("webgateway")]
        routes += [
            Route(name: "webgateway/render_image_region/<iid>/<z>/<t>/", parts: w + [.literal("render_image_region"), .segment(isNumber), .segment(isNumber), .segment(isNumber)], query: renderQuery),
            Route(name: "webgateway/render_image_region_rdef/<iid>/<z>/<t>/", parts: w + [.literal("render_image_region_rdef"), .segment(isNumber), .segment(isNumber), .segment(isNumber)], query: renderQuery),
            Route(name: "webgateway/render_thumbnail/<iid>/[<w>/][<h>/]", parts: w + [.literal("render_thumbnail"), .segment(isNumber), .optional(2, isNumber)], query: ["c", "m", "z", "t", "rdefId", "version"]),
            Route(name: "webgateway/render_birds_eye_view/<iid>/[<size>/]", parts: w + [.literal("render_birds_eye_view"), .segment(isNumber), .optional(1, isNumber)], query: []),
            Route(name: "webgateway/imgData/<iid>/", parts: w + [.literal("imgData"), .segment(isNumber)], query: ["callback"]),
        ]
        return routes
    }()

    /// Matches `rest` (the path after `/tiles/{deployment}/`, raw) and the raw query.
    public static func match(path rest: Substring, query: Substring?) -> Match? {
        var segments = rest.split(separator: "/", omittingEmptySubsequences: false)
        let trailingSlash = segments.last == ""
        if trailingSlash { segments.removeLast() }
        guard !segments.isEmpty, segments.allSatisfy(isPlainSegment) else { return nil }
        for route in routes {
            guard bind(route.parts, segments[...]) else { continue }
            // Webgateway URLs end in '/', ome_seadragon ones do not.
            let wantsSlash = route.name.hasPrefix("webgateway/")
            let path = segments.joined(separator: "/") + (wantsSlash ? "/" : "")
            return Match(path: path, query: filterQuery(query, allowed: route.query), route: route.name)
        }
        return nil
    }

    static func isPlainSegment(_ s: Substring) -> Bool {
        !s.isEmpty && s != "." && s != ".." && s.utf8.allSatisfy { b in
            (0x30...0x39).contains(b) || (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b) || b == 0x5F || b == 0x2D || b == 0x2E || b == 0x2C
        }
    }

    private static func bind(_ parts: [Part], _ segments: ArraySlice<Substring>) -> Bool {
        var i = segments.startIndex
        for part in parts {
            switch part {
            case .literal(let text):
                guard i < segments.endIndex, segments[i] == text else { return false }
                i += 1
            case .segment(let ok):
                guard i < segments.endIndex, ok(segments[i]) else { return false }
                i += 1
            case .optional(let count, let ok):
                var taken = 0
                while taken < count, i < segments.endIndex, ok(segments[i]) { i += 1; taken += 1 }
            }
        }
        return i == segments.endIndex
    }

    /// Keeps the allowed parameters, each value re-encoded so only safe bytes go upstream.
    static func filterQuery(_ raw: Substring?, allowed: Set<String>) -> String {
        guard let raw, !raw.isEmpty, !allowed.isEmpty else { return "" }
        var kept: [String] = []
        for pair in raw.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = percentDecode(parts[0]), allowed.contains(name),
                  let value = parts.count > 1 ? percentDecode(parts[1]) : ""
            else { continue }
            kept.append("\(name)=\(percentEncode(value))")
        }
        return kept.joined(separator: "&")
    }

    static func percentDecode(_ s: Substring) -> String? {
        var bytes: [UInt8] = []
        var it = s.utf8.makeIterator()
        while let b = it.next() {
            if b == 0x2B { bytes.append(0x20); continue }
            guard b == 0x25 else { bytes.append(b); continue }
            guard let h = it.next(), let l = it.next(), let v = UInt8(String(decoding: [h, l], as: UTF8.self), radix: 16) else { return nil }
            bytes.append(v)
        }
        guard !bytes.contains(0) else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }

    static func percentEncode(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            if (0x30...0x39).contains(b) || (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b) || "-._~,:".utf8.contains(b) {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                out += "%" + (b < 16 ? "0" : "") + String(b, radix: 16, uppercase: true)
            }
        }
        return out
    }
}

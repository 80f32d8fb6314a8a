/// The tile endpoints a cross-origin viewer fetches (domain brief §4), and nothing else.
///
/// The table mirrors the upstream URL patterns parameter by parameter — ome_seadragon's
/// `urls.py` (crs4/ome_seadragon 0.8.5) and omero-web's `webgateway/urls.py` (5.33) — and
/// each route passes on exactly the query parameters its view reads. A path is accepted only
/// if every segment is plain (`[A-Za-z0-9_.,-]`, never `.` or `..`, so no traversal and no
/// encoded `/`, `\` or NUL can pass) and it matches a route. JSONP `callback` is never
/// forwarded: a `<script>` request carries no Origin, so JSONP would bypass the policy.
public enum TileRoutes {
    /// A matched route: the upstream path (relative, no leading slash) and its query.
    public struct Match: Equatable, Sendable {
        public var path: String
        public var query: String
        public var route: String
        /// A parameter the view requires that the request lacks (the upstream would answer 500).
        public var missing: String?
        /// Image pixels or descriptors: which cache TTL of the deployment applies.
        public var kind: Kind
        /// The image (or slide, or dataset) the request is about, for purging by image.
        public var imageID: String
    }

    public enum Kind: Sendable, Equatable {
        /// Tiles, thumbnails and rendered regions.
        case tile
        /// Descriptors and JSON metadata.
        case metadata
    }

    /// A path segment: the bytes of one `/`-separated piece of the raw path.
    typealias Segment = ArraySlice<UInt8>

    private enum Part: Sendable {
        case bytes([UInt8])
        /// A segment matching the predicate.
        case segment(@Sendable (Segment) -> Bool)
        /// Zero to `count` trailing optional segments matching the predicate.
        case optional(Int, @Sendable (Segment) -> Bool)

        static func literal(_ text: some StringProtocol) -> Part { .bytes(Array(text.utf8)) }
    }

    private struct Route: Sendable {
        var name: String
        var parts: [Part]
        var query: Set<String>
        var required: Set<String> = []
        /// Django's pattern ends in `/`.
        var trailingSlash: Bool
        var kind: Kind
        /// Index of the path segment that carries the image id (the first non-literal one).
        var idIndex: Int
    }

    /// `[0-9]+`, at most 12 digits.
    @Sendable private static func isNumber(_ s: Segment) -> Bool { !s.isEmpty && s.count <= 12 && s.allSatisfy { (0x30...0x39).contains($0) } }
    /// `[\w\-.]+` in ASCII.
    @Sendable private static func isLabel(_ s: Segment) -> Bool { !s.isEmpty && s.allSatisfy(isLabelByte) }
    private static func isLabelByte(_ b: UInt8) -> Bool {
        (0x30...0x39).contains(b) || (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b) || b == 0x5F || b == 0x2D || b == 0x2E
    }
    private static func suffixed(_ suffix: String, id: @escaping @Sendable (Segment) -> Bool) -> @Sendable (Segment) -> Bool {
        let suffix = Array(suffix.utf8)
        return { s in stem(s, suffix).map(id) ?? false }
    }
    /// `s` without `suffix`, or nil if it does not end in it (or is nothing but it).
    private static func stem(_ s: Segment, _ suffix: [UInt8]) -> Segment? {
        s.count > suffix.count && s.suffix(suffix.count).elementsEqual(suffix) ? s.dropLast(suffix.count) : nil
    }
    /// `<column>_<row>.<format>`.
    private static func tileName(_ formats: [String]) -> @Sendable (Segment) -> Bool {
        let formats = formats.map { Array($0.utf8) }
        return { s in
            guard let dot = s.lastIndex(of: UInt8(ascii: ".")) else { return false }
            let format = s[(dot + 1)...]
            guard formats.contains(where: { format.elementsEqual($0) }) else { return false }
            let name = s[..<dot]
            guard let underscore = name.firstIndex(of: UInt8(ascii: "_")) else { return false }
            return isNumber(name[..<underscore]) && isNumber(name[(underscore + 1)...])
        }
    }

    private static func route(_ name: String, _ parts: [Part], query: Set<String> = [], required: Set<String> = [], kind: Kind = .metadata) -> Route {
        let prefix = name.prefix { $0 != "/" }
        let all = [Part.literal(prefix)] + parts
        let idIndex = all.firstIndex { if case .bytes = $0 { return false } else { return true } } ?? 0
        return Route(name: name, parts: all, query: query, required: required, trailingSlash: name.hasSuffix("/") || name.hasSuffix("/]"),
                     kind: kind, idIndex: idIndex)
    }

    /// The id in an id segment: `12.dzi`, `12_files`, `12_metadata.json` → `12`.
    static func imageID(_ segment: Segment) -> String {
        let id = idSuffixes.lazy.compactMap { stem(segment, $0) }.first ?? segment
        return String(decoding: id, as: UTF8.self)
    }
    private static let idSuffixes = ["_metadata.json", ".json", ".dzi", "_files"].map { Array($0.utf8) }

    private static let routes: [Route] = {
        var routes: [Route] = []
        let tileFormats = ["jpeg", "jpg", "png"]
        let dz: Set<String> = ["tile_size", "limit_bounds"], size: Set<String> = ["tile_size"]
        // ome_seadragon's DeepZoom views, for OMERO images ([0-9]+) and MIRAX slides ([\w\-.]+).
        for (prefix, id) in [("deepzoom", isNumber as @Sendable (Segment) -> Bool), ("mirax/deepzoom", isLabel)] {
            let p = prefix.split(separator: "/").map { Part.literal($0) }
            let n = "ome_seadragon/\(prefix)/"
            routes += [
                route(n + "get/<id>.dzi", p + [.literal("get"), .segment(suffixed(".dzi", id: id))], query: dz),
                route(n + "get/<id>_metadata.json", p + [.literal("get"), .segment(suffixed("_metadata.json", id: id))], query: size),
                route(n + "get/<id>.json", p + [.literal("get"), .segment(suffixed(".json", id: id))], query: size),
                route(n + "get/thumbnail/<id>.dzi", p + [.literal("get"), .literal("thumbnail"), .segment(suffixed(".dzi", id: id))], query: ["size"], required: ["size"], kind: .tile),
                route(n + "get/<id>_files/<level>/<c>_<r>.<fmt>", p + [.literal("get"), .segment(suffixed("_files", id: id)), .segment(isNumber), .segment(tileName(tileFormats))], query: dz, kind: .tile),
                route(n + "image_mpp/<id>.dzi", p + [.literal("image_mpp"), .segment(suffixed(".dzi", id: id))]),
                route(n + "slide_bounds/<id>.dzi", p + [.literal("slide_bounds"), .segment(suffixed(".dzi", id: id))]),
            ]
        }
        routes += [
            route("ome_seadragon/mirax/details/<slide>.json", [.literal("mirax"), .literal("details"), .segment(suffixed(".json", id: isLabel))]),
            route("ome_seadragon/get/image/<id>/", [.literal("get"), .literal("image"), .segment(isNumber)], query: ["rois"]),
            // Array datasets: by id ([0-9]+) or label ([\w\-.]+); PNG tiles only.
            route("ome_seadragon/arrays/deepzoom/get/<dataset>.dzi", [.literal("arrays"), .literal("deepzoom"), .literal("get"), .segment(suffixed(".dzi", id: isLabel))]),
            route("ome_seadragon/arrays/deepzoom/get/<dataset>_files/<level>/<c>_<r>.png",
                  [.literal("arrays"), .literal("deepzoom"), .literal("get"), .segment(suffixed("_files", id: isLabel)), .segment(isNumber), .segment(tileName(["png"]))],
                  query: ["palette", "threshold"], kind: .tile),
            route("ome_seadragon/arrays/shapes/get/<dataset_id>/", [.literal("arrays"), .literal("shapes"), .literal("get"), .segment(isNumber)],
                  query: ["threshold", "cluster_min_distance", "cluster_min_area", "shape_mode"]),
        ]
        // webgateway: the views read these through _get_prepared_image (c, maps, m, p, ia, q, z, t).
        let prepared: Set<String> = ["c", "maps", "m", "p", "ia", "q", "z", "t"]
        let thumbnail: Set<String> = ["z", "t", "rdefId"]
        routes += [
            route("webgateway/render_image_region/<iid>/<z>/<t>/", [.literal("render_image_region"), .segment(isNumber), .segment(isNumber), .segment(isNumber)], query: prepared.union(["tile", "region"]), kind: .tile),
            route("webgateway/render_image_region_rdef/<iid>/<z>/<t>/", [.literal("render_image_region_rdef"), .segment(isNumber), .segment(isNumber), .segment(isNumber)], query: prepared.union(["tile", "region"]), kind: .tile),
            route("webgateway/render_image/<iid>/[<z>/][<t>/]", [.literal("render_image"), .segment(isNumber), .optional(2, isNumber)], query: prepared.union(["format"]), kind: .tile),
            route("webgateway/render_image_rdef/<iid>/[<z>/][<t>/]", [.literal("render_image_rdef"), .segment(isNumber), .optional(2, isNumber)], query: prepared.union(["format"]), kind: .tile),
            route("webgateway/render_thumbnail/<iid>/[<w>/][<h>/]", [.literal("render_thumbnail"), .segment(isNumber), .optional(2, isNumber)], query: thumbnail, kind: .tile),
            route("webgateway/render_birds_eye_view/<iid>/[<size>/]", [.literal("render_birds_eye_view"), .segment(isNumber), .optional(1, isNumber)], query: thumbnail, kind: .tile),
            route("webgateway/imgData/<iid>/[<key>/]", [.literal("imgData"), .segment(isNumber), .optional(1, { !$0.isEmpty })], query: ["getDefaults"]),
        ]
        return routes
    }()

    /// Matches `rest` (the path after `/tiles/{deployment}/`, raw) and the raw query. Works on
    /// the path's bytes: one copy, segments as slices of it.
    public static func match(path rest: Substring, query: Substring?) -> Match? {
        let bytes = Array(rest.utf8)
        var segments: [Segment] = []
        segments.reserveCapacity(8)
        var start = 0
        for (i, b) in bytes.enumerated() where b == UInt8(ascii: "/") {
            segments.append(bytes[start..<i])
            start = i + 1
        }
        segments.append(bytes[start...])
        let trailingSlash = segments.count > 1 && segments[segments.count - 1].isEmpty
        if trailingSlash { segments.removeLast() }
        guard segments.allSatisfy(isPlainSegment) else { return nil }
        for route in routes {
            guard bind(route.parts, segments[...]) else { continue }
            // The segments are `rest` itself, less a trailing slash that the route may put back.
            let path = route.trailingSlash == trailingSlash ? String(rest) : trailingSlash ? String(rest.dropLast()) : rest + "/"
            let kept = filterQuery(query, allowed: route.query)
            let missing = route.required.sorted().first { name in !kept.names.contains(name) }
            let id = route.idIndex < segments.count ? Self.imageID(segments[route.idIndex]) : ""
            return Match(path: path, query: kept.query, route: route.name, missing: missing, kind: route.kind, imageID: id)
        }
        return nil
    }

    static func isPlainSegment(_ s: Segment) -> Bool {
        !s.isEmpty && !s.elementsEqual([0x2E]) && !s.elementsEqual([0x2E, 0x2E]) && s.allSatisfy { b in
            (0x30...0x39).contains(b) || (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b) || b == 0x5F || b == 0x2D || b == 0x2E || b == 0x2C
        }
    }

    private static func bind(_ parts: [Part], _ segments: ArraySlice<Segment>) -> Bool {
        var i = segments.startIndex
        for part in parts {
            switch part {
            case .bytes(let text):
                guard i < segments.endIndex, segments[i].elementsEqual(text) else { return false }
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
    static func filterQuery(_ raw: Substring?, allowed: Set<String>) -> (query: String, names: Set<String>) {
        guard let raw, !raw.isEmpty, !allowed.isEmpty else { return ("", []) }
        var kept: [String] = []
        var names: Set<String> = []
        for pair in raw.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let first = parts.first, let name = percentDecode(first), allowed.contains(name),
                  let value = parts.count > 1 ? percentDecode(parts[1]) : ""
            else { continue }
            kept.append("\(name)=\(percentEncode(value))")
            names.insert(name)
        }
        return (kept.joined(separator: "&"), names)
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

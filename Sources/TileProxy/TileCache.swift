import Foundation
import HTTPCore
import HTTPTypes
import Synchronization

/// A shared LRU cache of upstream tile responses, bounded by bytes.
///
/// Entries are shared across origins: they hold the upstream's end-to-end fields without any
/// CORS header, and each response gets the requesting origin's CORS headers when served.
/// Upstream `Cache-Control` rules: `no-store` and `private` are not stored; `max-age` (or
/// `s-maxage`) sets freshness; `no-cache`, or no max-age, means "revalidate every time",
/// which needs an `ETag` or `Last-Modified` to be worth storing.
public final class TileCache: Sendable {
    public struct Key: Hashable, Sendable {
        var endpoint: UpstreamEndpoint
        var target: String
    }

    public struct Entry: Sendable {
        var fields: HTTPFields
        var body: [UInt8]
        var etag: String?
        var lastModified: String?
        var freshUntil: UInt64
        var size: Int { body.count + 512 }
    }

    enum Lookup {
        case fresh(Entry)
        case stale(Entry)
        case miss
    }

    public struct Counters: Sendable, Equatable, Codable {
        public var hits = 0
        public var misses = 0
        public var revalidated = 0
        public var entries = 0
        public var bytes = 0
        public init() {}
    }

    public let capacityBytes: Int
    /// Larger responses are streamed but not kept.
    public let maxEntryBytes: Int
    private let state: Mutex<LRU>

    public init(capacityBytes: Int = 256 << 20, maxEntryBytes: Int = 8 << 20) {
        self.capacityBytes = capacityBytes
        self.maxEntryBytes = min(maxEntryBytes, capacityBytes)
        state = Mutex(LRU())
    }

    public var counters: Counters {
        state.withLock { s in
            var c = s.counters
            c.entries = s.entries.count
            c.bytes = s.bytes
            return c
        }
    }

    func lookup(_ key: Key) -> Lookup {
        guard capacityBytes > 0 else { return .miss }
        return state.withLock { s in
            guard let entry = s.get(key) else { return .miss }
            return entry.freshUntil > monotonicNanos() ? .fresh(entry) : .stale(entry)
        }
    }

    func countMiss() { state.withLock { $0.counters.misses += 1 } }

    /// Whether a 200 to a GET may be stored, by size and Cache-Control.
    func isStorable(_ head: ResponseHead) -> Bool {
        guard capacityBytes > 0, head.response.status.code == 200 else { return false }
        let fields = head.response.headerFields
        guard let length = fields[.contentLength].flatMap(Int.init), length <= maxEntryBytes else { return false }
        if fields[.setCookie] != nil { return false }
        let cc = CacheControl(fields)
        if cc.noStore || cc.isPrivate { return false }
        return Self.lifetime(fields) > 0 || CacheFields.etag(fields) != nil || fields[.lastModified] != nil
    }

    func store(_ key: Key, head: ResponseHead, body: [UInt8]) {
        let fields = TileProxy.endToEnd(head.response.headerFields)
        let entry = Entry(fields: fields, body: body, etag: CacheFields.etag(fields), lastModified: fields[.lastModified],
                          freshUntil: Self.freshUntil(fields))
        guard entry.size <= capacityBytes else { return }
        state.withLock { $0.put(key, entry, capacity: capacityBytes) }
    }

    /// A 304 from the upstream: the entry is fresh again, with the updated fields (RFC 9111 §4.3.4).
    func refresh(_ key: Key, _ entry: Entry, with fields: HTTPFields) -> Entry {
        var updated = entry
        for field in TileProxy.endToEnd(fields) where field.name != .contentLength {
            updated.fields[field.name] = field.value
        }
        updated.etag = CacheFields.etag(updated.fields)
        updated.lastModified = updated.fields[.lastModified]
        updated.freshUntil = Self.freshUntil(updated.fields)
        state.withLock { s in
            s.counters.revalidated += 1
            s.put(key, updated, capacity: capacityBytes)
        }
        return updated
    }

    /// Answers from an entry: 304 if the client's `If-None-Match` names its ETag, else 200.
    func respond(_ entry: Entry, to request: HTTPServerRequest, cors: HTTPFields, state label: String, _ writer: HTTPResponseWriter) {
        if label == "HIT" { state.withLock { $0.counters.hits += 1 } }
        var fields = entry.fields
        fields.append(contentsOf: cors)
        fields[.xCache] = label
        mergeVary(&fields)
        if let etag = entry.etag, EntityTag.ifNoneMatch(request.head.headerFields[.ifNoneMatch], matches: etag) {
            fields[.contentType] = nil
            writer.respond(HTTPResponse(status: .notModified, headerFields: fields))
            return
        }
        writer.respond(HTTPResponse(status: .ok, headerFields: fields), body: entry.body)
    }

    /// Seconds the response is fresh for, from now: its lifetime (s-maxage, max-age, else
    /// Expires − Date) less its Age; 0 with no-cache. Every term is bounded by 2^31.
    static func lifetime(_ fields: HTTPFields) -> Int {
        let cc = CacheControl(fields)
        if cc.noCache { return 0 }
        var lifetime = cc.lifetime ?? 0
        if cc.lifetime == nil, let expires = fields[.expires] {
            // An invalid Expires means "already expired" (RFC 9111 §5.3).
            let date = fields[.date].flatMap { CacheFields.httpDate($0) }
            if let e = CacheFields.httpDate(expires), let d = date {
                lifetime = min(max(0, e - d), CacheFields.maxDeltaSeconds)
            }
        }
        return max(0, lifetime - CacheFields.age(fields))
    }

    static func freshUntil(_ fields: HTTPFields) -> UInt64 {
        let seconds = lifetime(fields)
        guard seconds > 0 else { return 0 }
        let (sum, overflow) = monotonicNanos().addingReportingOverflow(UInt64(seconds) * 1_000_000_000)
        return overflow ? .max : sum
    }
}

/// Least-recently-used map bounded by bytes: a dictionary of nodes in a doubly-linked list.
struct LRU {
    final class Node {
        let key: TileCache.Key
        var entry: TileCache.Entry
        var prev: Node?
        var next: Node?
        init(_ key: TileCache.Key, _ entry: TileCache.Entry) { self.key = key; self.entry = entry }
    }

    var entries: [TileCache.Key: Node] = [:]
    var head: Node?  // most recent
    var tail: Node?  // least recent
    var bytes = 0
    var counters = TileCache.Counters()

    mutating func get(_ key: TileCache.Key) -> TileCache.Entry? {
        guard let node = entries[key] else { return nil }
        unlink(node)
        pushFront(node)
        return node.entry
    }

    mutating func put(_ key: TileCache.Key, _ entry: TileCache.Entry, capacity: Int) {
        if let old = entries[key] {
            bytes -= old.entry.size
            unlink(old)
            entries[key] = nil
        }
        let node = Node(key, entry)
        entries[key] = node
        pushFront(node)
        bytes += entry.size
        while bytes > capacity, let victim = tail {
            unlink(victim)
            entries[victim.key] = nil
            bytes -= victim.entry.size
        }
    }

    private mutating func unlink(_ node: Node) {
        node.prev?.next = node.next
        node.next?.prev = node.prev
        if head === node { head = node.next }
        if tail === node { tail = node.prev }
        node.prev = nil
        node.next = nil
    }

    private mutating func pushFront(_ node: Node) {
        node.next = head
        head?.prev = node
        head = node
        if tail == nil { tail = node }
    }
}

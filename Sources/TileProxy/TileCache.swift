import CoreMetrics
import CorsdModel
import HTTPCore
import HTTPTypes
import Synchronization

/// A shared LRU store of upstream tile responses, bounded by bytes. Plain storage: lookup,
/// store, refresh and purge; what may be stored and for how long is `CacheRules`' decision,
/// and answering from an entry is the proxy's.
///
/// Entries are shared across origins: they hold the upstream's end-to-end fields without any
/// CORS field or `Set-Cookie`, and each response gets the requesting origin's CORS headers when
/// served.
public final class TileCache: Sendable {
    /// What the upstream saw: the deployment, the upstream target and the negotiation fields
    /// it forwarded (`Accept`, `Accept-Encoding`, `Accept-Language`).
    public struct Key: Hashable, Sendable {
        var deployment: String
        var target: String
        var negotiation: [String]

        /// Bytes the key itself holds, for the size bound.
        var size: Int { deployment.utf8.count + target.utf8.count + negotiation.reduce(0) { $0 + $1.utf8.count } }
    }

    public struct Entry: Sendable {
        var status: HTTPResponse.Status
        var fields: HTTPFields
        var body: [UInt8]
        var etag: String?
        var lastModified: String?
        var freshUntil: UInt64
        /// The request fields the response varies on (lower-cased name → value, nil if absent).
        var vary: [String: String?]
        /// For purging one image's entries.
        var imageID: String
        /// Fixed overhead per entry for the node, dictionary slot and field storage.
        static let overhead = 256

        func size(key: Key) -> Int {
            let fieldBytes = fields.reduce(0) { $0 + $1.name.canonicalName.utf8.count + $1.value.utf8.count + 4 }
            let varyBytes = vary.reduce(0) { $0 + $1.key.utf8.count + ($1.value?.utf8.count ?? 0) }
            return key.size + fieldBytes + varyBytes + body.count + imageID.utf8.count + Self.overhead
        }

        func matches(_ request: HTTPFields) -> Bool {
            vary.allSatisfy { name, value in
                let current = HTTPField.Name(name).map { request[values: $0].joined(separator: ", ") }
                return (current?.isEmpty ?? true ? nil : current) == value
            }
        }
    }

    enum Lookup {
        case fresh(Entry)
        case stale(Entry)
        case miss
    }

    /// How a request was served, for the counters (kept here, in one place).
    enum Outcome {
        case hit, miss, revalidated
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

    var isEnabled: Bool { capacityBytes > 0 }

    func lookup(_ key: Key, request: HTTPFields) -> Lookup {
        guard isEnabled else { return .miss }
        return state.withLock { s in
            guard let entry = s.get(key), entry.matches(request) else { return .miss }
            return entry.freshUntil > monotonicNanos() ? .fresh(entry) : .stale(entry)
        }
    }

    /// swift-metrics counters beside the API's own (`corsd_tile_cache_*_total`).
    private let outcomeCounters = (hit: Counter(label: "corsd_tile_cache_hits_total"),
                                   miss: Counter(label: "corsd_tile_cache_misses_total"),
                                   revalidated: Counter(label: "corsd_tile_cache_revalidations_total"))

    func record(_ outcome: Outcome) {
        switch outcome {
        case .hit: outcomeCounters.hit.increment()
        case .miss: outcomeCounters.miss.increment()
        case .revalidated: outcomeCounters.revalidated.increment()
        }
        state.withLock { s in
            switch outcome {
            case .hit: s.counters.hits += 1
            case .miss: s.counters.misses += 1
            case .revalidated: s.counters.revalidated += 1
            }
        }
    }

    func store(_ key: Key, _ entry: Entry) {
        let size = entry.size(key: key)
        guard isEnabled, entry.body.count <= maxEntryBytes, size <= capacityBytes else { return }
        state.withLock { $0.put(key, entry, size: size, capacity: capacityBytes) }
    }

    /// A 304 from the upstream (RFC 9111 §4.3.4): only the validators and the freshness fields
    /// of the entry are updated, never `Set-Cookie` or anything else the 304 carries.
    func refresh(_ key: Key, _ entry: Entry, with fields: HTTPFields, lifetime: Int) -> Entry {
        var updated = entry
        for name in CacheRules.refreshedFields {
            let values = fields[values: name]
            if !values.isEmpty { updated.fields[values: name] = values }
        }
        updated.etag = CacheFields.etag(updated.fields)
        updated.lastModified = updated.fields[.lastModified]
        updated.freshUntil = Self.freshUntil(seconds: lifetime)
        store(key, updated)
        return updated
    }

    /// The monotonic deadline `seconds` from now (0 for no freshness), saturating.
    static func freshUntil(seconds: Int) -> UInt64 {
        guard seconds > 0 else { return 0 }
        let (sum, overflow) = monotonicNanos().addingReportingOverflow(UInt64(seconds) * 1_000_000_000)
        return overflow ? .max : sum
    }

    /// Drops a deployment's entries (all of them, or one image's). Returns how many.
    @discardableResult
    public func purge(deployment: String, imageID: String? = nil) -> Int {
        state.withLock { s in
            let victims = s.entries.filter { $0.key.deployment == deployment && (imageID == nil || $0.value.entry.imageID == imageID) }.map(\.key)
            for key in victims { s.remove(key) }
            return victims.count
        }
    }
}

/// Least-recently-used map bounded by bytes: a dictionary of nodes in a doubly-linked list.
struct LRU {
    final class Node {
        let key: TileCache.Key
        var entry: TileCache.Entry
        var size: Int
        var prev: Node?
        var next: Node?
        init(_ key: TileCache.Key, _ entry: TileCache.Entry, size: Int) { self.key = key; self.entry = entry; self.size = size }
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

    mutating func put(_ key: TileCache.Key, _ entry: TileCache.Entry, size: Int, capacity: Int) {
        remove(key)
        let node = Node(key, entry, size: size)
        entries[key] = node
        pushFront(node)
        bytes += size
        while bytes > capacity, let victim = tail { remove(victim.key) }
    }

    mutating func remove(_ key: TileCache.Key) {
        guard let node = entries[key] else { return }
        unlink(node)
        entries[key] = nil
        bytes -= node.size
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

import CorsdModel
import HTTPCore
import HTTPTypes
import Testing

@testable import TileProxy

func fields(_ pairs: [(String, String)]) -> HTTPFields {
    var f = HTTPFields()
    for (name, value) in pairs { if let n = HTTPField.Name(name) { f.append(HTTPField(name: n, value: value)) } }
    return f
}

func head(_ pairs: [(String, String)], status: Int = 200) -> ResponseHead {
    ResponseHead(response: HTTPResponse(status: .init(code: status), headerFields: fields(pairs)), version: .http1_1, framing: .contentLength(10), keepAlive: true)
}

/// What the shared tile cache stores, one row per rule.
struct CacheRulesTests {
    static let off = 0
    static let ttl = 3600

    @Test(arguments: [
        ("MaxAge", [("Cache-Control", "max-age=60")], 200, off, 60 as Int?),
        ("ETagOnlyRevalidates", [("ETag", "\"x\"")], 200, off, 0),
        ("LastModifiedOnlyRevalidates", [("Last-Modified", "Sun, 22 Nov 2026 00:00:00 GMT")], 200, off, 0),
        ("NothingToGoOnLikeOMERO", [], 200, off, nil),
        ("OperatorTTLForSilentTiles", [], 200, ttl, 3600),
        ("OperatorTTLNeverOverNoStore", [("Cache-Control", "no-store")], 200, ttl, nil),
        ("OperatorTTLNeverOverPrivate", [("Cache-Control", "private")], 200, ttl, nil),
        ("OperatorTTLNeverOverNoCache", [("Cache-Control", "no-cache"), ("ETag", "\"e\"")], 200, ttl, 0),
        ("UpstreamFreshnessWinsOverTTL", [("Cache-Control", "max-age=5")], 200, ttl, 5),
        ("AgeCountsAgainstMaxAge", [("Cache-Control", "max-age=60"), ("Age", "50")], 200, off, 10),
        ("SMaxAgeForASharedCache", [("Cache-Control", "max-age=5, s-maxage=600")], 200, off, 600),
        ("ExpiresMinusDate", [("Expires", "Sun, 22 Nov 2026 01:00:00 GMT"), ("Date", "Sun, 22 Nov 2026 00:00:00 GMT")], 200, off, 3600),
        ("InvalidExpiresIsExpired", [("Expires", "0"), ("ETag", "\"e\"")], 200, ttl, 0),
        ("SetCookieNeverStored", [("Cache-Control", "max-age=60"), ("Set-Cookie", "s=1")], 200, off, nil),
        ("VaryStarNeverStored", [("Cache-Control", "max-age=60"), ("Vary", "*")], 200, off, nil),
        ("ErrorNotStoredByTTL", [], 404, ttl, nil),
        ("ErrorWithoutExplicitFreshness", [("ETag", "\"e\"")], 500, off, nil),
        ("ErrorStoredWhenTheUpstreamSaysSo", [("Cache-Control", "max-age=30")], 404, off, 30),
        ("PartialContentNeverStored", [("Cache-Control", "max-age=60")], 206, off, nil),
    ] as [(String, [(String, String)], Int, Int, Int?)])
    func decides(name: String, pairs: [(String, String)], status: Int, ttl: Int, lifetime: Int?) {
        #expect(CacheRules.decide(head(pairs, status: status), fallbackTTL: ttl)?.lifetime == lifetime, "\(name)")
    }

    @Test func tilesAndMetadataHaveTheirOwnTTL() {
        let policy = TileCachePolicy(tilesTTL: 3600, metadataTTL: 60)
        #expect(policy.ttl(for: .tile) == 3600)
        #expect(policy.ttl(for: .metadata) == 60)
    }

    @Test func varyNamesAreKeptButOriginIsCorsds() {
        #expect(CacheRules.decide(head([("Cache-Control", "max-age=1"), ("Vary", "Origin, Accept-Encoding")]), fallbackTTL: Self.off)?.vary == ["accept-encoding"])
    }
}

/// The store itself: variants, refresh, the byte bound and purges.
struct TileCacheStoreTests {
    func key(_ i: Int, deployment: String = "d") -> TileCache.Key { TileCache.Key(deployment: deployment, target: "/t\(i)", negotiation: ["", "gzip", ""]) }

    func entry(_ body: Int = 1, vary: [String: String?] = [:], image: String = "1", pairs: [(String, String)] = [("ETag", "\"e\"")]) -> TileCache.Entry {
        let f = fields(pairs)
        return TileCache.Entry(status: .ok, fields: f, body: Array(repeating: 7, count: body), etag: CacheFields.etag(f), lastModified: nil,
                               freshUntil: TileCache.freshUntil(seconds: 60), vary: vary, imageID: image)
    }

    @Test func aVariantIsServedOnlyToRequestsThatMatchIt() {
        let cache = TileCache(capacityBytes: 1 << 20)
        cache.store(key(1), entry(vary: ["accept-language": "fr"]))
        guard case .fresh = cache.lookup(key(1), request: fields([("Accept-Language", "fr")])) else { Issue.record("same variant"); return }
        guard case .miss = cache.lookup(key(1), request: fields([("Accept-Language", "de")])) else { Issue.record("other variant"); return }
        guard case .miss = cache.lookup(key(1), request: fields([])) else { Issue.record("absent field"); return }
    }

    @Test func a304UpdatesOnlyValidatorsAndFreshness() {
        let cache = TileCache(capacityBytes: 1 << 20)
        let stale = entry(pairs: [("ETag", "\"old\""), ("Content-Type", "image/jpeg")])
        cache.store(key(1), stale)
        let updated = cache.refresh(key(1), stale, with: fields([("ETag", "\"new\""), ("Set-Cookie", "session=steal"), ("Content-Type", "text/html"), ("Cache-Control", "max-age=5")]), lifetime: 5)
        #expect(updated.etag == "\"new\"")
        #expect(updated.fields[.setCookie] == nil)
        #expect(updated.fields[.contentType] == "image/jpeg")
        #expect(updated.fields[.cacheControl] == "max-age=5")
    }

    @Test func theBoundCountsKeysFieldsAndBodies() {
        let one = entry(1000).size(key: key(1))
        #expect(one > 1000 + key(1).size)
        let cache = TileCache(capacityBytes: 3 * one, maxEntryBytes: 4000)
        for i in 1...3 { cache.store(key(i), entry(1000)) }
        _ = cache.lookup(key(1), request: [:])  // 1 is now the most recent; 2 the least
        cache.store(key(4), entry(1000))
        guard case .miss = cache.lookup(key(2), request: [:]) else { Issue.record("2 should be evicted"); return }
        for i in [1, 3, 4] { guard case .fresh = cache.lookup(key(i), request: [:]) else { Issue.record("\(i) should remain"); return } }
        #expect(cache.counters.bytes <= cache.capacityBytes)
        #expect(cache.counters.entries == 3)
    }

    @Test func purgeByDeploymentOrImage() {
        let cache = TileCache(capacityBytes: 1 << 20)
        cache.store(key(1), entry(image: "1"))
        cache.store(key(2), entry(image: "2"))
        cache.store(key(3, deployment: "other"), entry(image: "1"))
        #expect(cache.purge(deployment: "d", imageID: "1") == 1)
        #expect(cache.purge(deployment: "d") == 1)
        #expect(cache.counters.entries == 1)
    }

    @Test func endToEndDropsHopByHopConnectionNamedAndUpstreamCORS() {
        let out = ResponseBuilder.endToEnd(fields([("Connection", "close, X-Secret-Hop"), ("X-Secret-Hop", "1"), ("Transfer-Encoding", "chunked"),
                                                    ("Access-Control-Allow-Origin", "*"), ("ETag", "\"abc\""), ("Cache-Control", "max-age=60"), ("Content-Length", "5")]))
        #expect(out.map(\.name.canonicalName) == ["etag", "cache-control"])
    }
}

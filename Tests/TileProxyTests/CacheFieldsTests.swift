import Foundation
import HTTPTypes
import TestSupport
import Testing

@testable import TileProxy

/// The parsers of upstream cache fields are total: any input gives an answer, numbers
/// saturate at 2^31 (RFC 9111 §1.2.2), and well-formed values mean what the RFCs say.
struct CacheFieldsTests {
    func fields(_ pairs: [(String, String)]) -> HTTPFields {
        var f = HTTPFields()
        for (name, value) in pairs { if let n = HTTPField.Name(name) { f.append(HTTPField(name: n, value: value)) } }
        return f
    }

    @Test(arguments: [
        ("0", 0), ("60", 60), ("2147483648", 1 << 31), ("99999999999999999999999999999", 1 << 31), ("", nil), ("-1", nil),
        ("1.5", nil), (" 5", nil), ("+5", nil), ("٣", nil),
    ] as [(String, Int?)])
    func deltaSecondsSaturates(text: String, expected: Int?) {
        #expect(CacheFields.deltaSeconds(text) == expected)
    }

    @Test(arguments: [
        ("max-age=60", CacheControl.Parsed(maxAge: 60)), ("MAX-AGE=\"60\"", .init(maxAge: 60)), ("max-age=", .init()), ("max-age", .init()),
        ("=, ,=5, max-age=, s-maxage=-1, \"", .init()), ("no-store, max-age=5", .init(noStore: true, maxAge: 5)),
        ("private=\"set-cookie\", s-maxage=10", .init(isPrivate: true, sMaxAge: 10)), ("no-cache=\"x\"", .init(noCache: true)),
        ("max-age=99999999999999999999", .init(maxAge: 1 << 31)), (",,,,", .init()), ("public,max-age=1", .init(isPublic: true, maxAge: 1)),
    ])
    func cacheControlIgnoresWhatItCannotRead(value: String, expected: CacheControl.Parsed) {
        #expect(CacheControl(fields([("Cache-Control", value)])).parsed == expected)
    }

    /// Random field values from a hostile alphabet: no trap, bounded results.
    @Test func randomFieldsNeverTrap() {
        var rng = SplitMix64(seed: 9111)
        let alphabet = Array("max-age=s-maxage,no-store\"' \t=,;/W0123456789x\u{7f}é")
        for _ in 0..<20_000 {
            let value = String((0..<Int(rng.next() % 40)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })
            let f = fields([("Cache-Control", value), ("Age", value), ("Vary", value), ("ETag", value), ("Expires", value), ("Date", value)])
            let cc = CacheControl(f)
            #expect((cc.lifetime ?? 0) <= 1 << 31)
            #expect(CacheFields.age(f) <= 1 << 31)
            _ = CacheFields.vary(f)
            _ = CacheFields.etag(f)
            #expect(CacheRules.lifetime(f, fallbackTTL: 60) <= 1 << 31)
        }
    }

    @Test(arguments: [
        ("\"abc\"", "\"abc\""), ("W/\"abc\"", "W/\"abc\""), ("W/", nil), ("abc", nil), ("\"a\"b\"", nil), ("\"\"", "\"\""), ("\"", nil),
    ] as [(String, String?)])
    func etagMustBeWellFormed(value: String, expected: String?) {
        #expect(CacheFields.etag(fields([("ETag", value)])) == expected)
    }

    @Test func varyListsNamesOnce() {
        #expect(CacheFields.vary(fields([("Vary", " , Accept-Encoding,origin"), ("Vary", "ORIGIN, *")])) == ["accept-encoding", "origin", "*"])
    }

    /// IMF-fixdates against Python's calendar.timegm on random dates from 1970 to 9999.
    @Test func httpDatesAgreeWithPython() throws {
        var rng = SplitMix64(seed: 7231)
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        var dates: [String] = ["Sun, 06 Nov 1994 08:49:37 GMT", "Thu, 01 Jan 1970 00:00:00 GMT", "Tue, 29 Feb 2000 23:59:59 GMT"]
        for _ in 0..<2000 {
            let d = String(format: "Mon, %02d %@ %04d %02d:%02d:%02d GMT", 1 + Int(rng.next() % 28), months[Int(rng.next() % 12)],
                           1970 + Int(rng.next() % 8030), Int(rng.next() % 24), Int(rng.next() % 60), Int(rng.next() % 60))
            dates.append(d)
        }
        let program = """
        import calendar, json, sys, time
        print(json.dumps([calendar.timegm(time.strptime(d[5:], "%d %b %Y %H:%M:%S GMT")) for d in json.load(sys.stdin)]))
        """
        let expected = try JSONDecoder().decode([Int].self, from: runPython(program, stdin: try JSONEncoder().encode(dates)))
        #expect(dates.map { CacheFields.httpDate($0) } == expected.map(Optional.some))
        #expect(CacheFields.httpDate("Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777)
        for bad in ["", "yesterday", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "Sun, 06 Nov 1994 25:49:37 GMT", "Sun, 99 Nov 1994 08:49:37 GMT"] {
            #expect(CacheFields.httpDate(bad) == nil, "\(bad)")
        }
    }
}

extension CacheControl {
    /// The parsed directives, for comparing with a table row.
    struct Parsed: Equatable {
        var noStore = false, noCache = false, isPrivate = false, isPublic = false
        var maxAge: Int?, sMaxAge: Int?
    }

    var parsed: Parsed { Parsed(noStore: noStore, noCache: noCache, isPrivate: isPrivate, isPublic: isPublic, maxAge: maxAge, sMaxAge: sMaxAge) }
}

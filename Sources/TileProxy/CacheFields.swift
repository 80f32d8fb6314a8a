import HTTPTypes

/// Total parsers for the upstream fields the tile cache interprets (RFC 9111, RFC 9110): every
/// input gives an answer, malformed parts are ignored, numbers saturate. They never trap and
/// cost one pass over the field.
enum CacheFields {
    /// RFC 9111 §1.2.2: a delta-seconds too large to represent is 2^31.
    static let maxDeltaSeconds = 1 << 31

    /// `delta-seconds = 1*DIGIT`, saturating at 2^31; nil if not digits.
    static func deltaSeconds<S: StringProtocol>(_ text: S) -> Int? {
        var value = 0
        var digits = 0
        for b in text.utf8 {
            guard (0x30...0x39).contains(b) else { return nil }
            digits += 1
            if value < maxDeltaSeconds { value = value * 10 + Int(b - 0x30) }
        }
        return digits == 0 ? nil : min(value, maxDeltaSeconds)
    }

    /// `Age`: the first valid delta-seconds, else 0.
    static func age(_ fields: HTTPFields) -> Int {
        fields[values: .age].lazy.compactMap { deltaSeconds($0.trimmingOWS()) }.first ?? 0
    }

    /// `Vary`: the lower-cased field names listed (empty elements ignored); `*` is kept as is.
    static func vary(_ fields: HTTPFields) -> [String] {
        var names: [String] = []
        for value in fields[values: .vary] {
            for item in value.split(separator: ",") {
                let name = item.trimmingOWS().lowercased()
                if !name.isEmpty && !names.contains(name) { names.append(name) }
            }
        }
        return names
    }

    /// A syntactically valid entity-tag (`"x"` or `W/"x"`, RFC 9110 §8.8.3), else nil: a
    /// malformed one is never sent back as a validator.
    static func etag(_ fields: HTTPFields) -> String? {
        guard let raw = fields[.eTag] else { return nil }
        let value = raw.trimmingOWS()
        var bytes = Substring(value).utf8[...]
        if bytes.starts(with: "W/".utf8) { bytes = bytes.dropFirst(2) }
        guard bytes.count >= 2, bytes.first == 0x22, bytes.last == 0x22 else { return nil }
        let inner = bytes.dropFirst().dropLast()
        guard inner.allSatisfy({ $0 == 0x21 || (0x23...0x7E).contains($0) || $0 >= 0x80 }) else { return nil }
        return String(value)
    }

    /// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) as seconds since 1970, else nil. The
    /// obsolete formats are not accepted (RFC 9110 §5.6.7 lets a recipient treat them as invalid).
    static func httpDate<S: StringProtocol>(_ text: S) -> Int? {
        let b = Array(text.utf8)
        guard b.count == 29, b[3] == 0x2C, b[4] == 0x20, b[7] == 0x20, b[11] == 0x20, b[16] == 0x20,
              b[19] == 0x3A, b[22] == 0x3A, b[25] == 0x20, Array(b[26...]) == Array("GMT".utf8)
        else { return nil }
        func number(_ r: Range<Int>) -> Int? {
            var n = 0
            for i in r {
                guard (0x30...0x39).contains(b[i]) else { return nil }
                n = n * 10 + Int(b[i] - 0x30)
            }
            return n
        }
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard let day = number(5..<7), let year = number(12..<16), let hour = number(17..<19),
              let minute = number(20..<22), let second = number(23..<25),
              let monthIndex = months.firstIndex(where: { Array($0.utf8) == Array(b[8..<11]) }),
              (1...31).contains(day), hour < 24, minute < 60, second < 61, year >= 1970
        else { return nil }
        // Days from civil (Howard Hinnant's algorithm), all in small integers.
        let m = monthIndex + 1
        let y = m <= 2 ? year - 1 : year
        let era = y / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146097 + doe - 719468
        return days * 86400 + hour * 3600 + minute * 60 + second
    }
}

/// The Cache-Control directives the tile cache honours (RFC 9111 §5.2). Unknown or malformed
/// directives are ignored; an invalid max-age is absent (the response then has no freshness).
struct CacheControl: Equatable {
    var noStore = false
    var noCache = false
    var isPrivate = false
    var isPublic = false
    var maxAge: Int?
    var sMaxAge: Int?

    init(_ fields: HTTPFields) {
        for value in fields[values: .cacheControl] {
            for item in value.split(separator: ",") {
                let directive = item.trimmingOWS()
                let name: Substring, argument: Substring?
                if let eq = directive.firstIndex(of: "=") {
                    name = directive[..<eq]
                    argument = Self.unquoted(directive[directive.index(after: eq)...])
                } else {
                    name = directive
                    argument = nil
                }
                switch name.lowercased() {
                case "no-store": noStore = true
                case "no-cache": noCache = true  // with field names, still "revalidate": stricter is safe
                case "private": isPrivate = true
                case "public": isPublic = true
                case "max-age": maxAge = argument.flatMap(CacheFields.deltaSeconds)
                case "s-maxage": sMaxAge = argument.flatMap(CacheFields.deltaSeconds)
                default: break
                }
            }
        }
    }

    /// The freshness lifetime a shared cache uses: s-maxage, else max-age.
    var lifetime: Int? { sMaxAge ?? maxAge }

    /// `"x"` → `x`; a lone or unbalanced quote is kept as is (and then fails the number check).
    private static func unquoted(_ s: Substring) -> Substring {
        if s.count >= 2, s.first == "\"", s.last == "\"" { return s.dropFirst().dropLast() }
        return s
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs (HTTP's OWS).
    func trimmingOWS() -> SubSequence {
        var s = self[...]
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return s
    }
}

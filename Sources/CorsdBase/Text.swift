import Foundation

/// tchar (RFC 9110 §5.6.2): the bytes of methods and field names.
@inlinable
public func isTokenByte(_ b: UInt8) -> Bool {
    switch b {
    case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
    case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E: return true
    default: return false
    }
}

/// A non-empty run of token bytes.
public func isToken<S: StringProtocol>(_ s: S) -> Bool { !s.isEmpty && s.utf8.allSatisfy(isTokenByte) }

extension StringProtocol {
    /// Without leading and trailing spaces and tabs (HTTP's OWS).
    public func trimmingOWS() -> SubSequence {
        var s = self[...]
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return s
    }
}

/// Percent-decoding (RFC 3986 §2.1) of path segments and query values: nil when an escape is
/// malformed or the result is not UTF-8.
public enum PercentDecoding {
    public static func decode<S: StringProtocol>(_ s: S, plusAsSpace: Bool = false) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(s.utf8.count)
        var it = s.utf8.makeIterator()
        while let b = it.next() {
            switch b {
            case UInt8(ascii: "%"):
                guard let h = it.next().flatMap(hexValue), let l = it.next().flatMap(hexValue) else { return nil }
                bytes.append(h << 4 | l)
            case UInt8(ascii: "+") where plusAsSpace:
                bytes.append(UInt8(ascii: " "))
            default:
                bytes.append(b)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case 0x30...0x39: return b - 0x30
        case 0x41...0x46: return b - 0x37
        case 0x61...0x66: return b - 0x57
        default: return nil
        }
    }
}

/// corsd's one JSON encoder configuration: sorted keys (stable bytes, stable hashes), slashes
/// unescaped. Used for API responses and stored documents (`JSONValue.prettyText` for files).
public enum JSONCoding {
    public static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}

/// Whether `a` and `b` are equal ignoring ASCII case (field names, tokens); allocates nothing.
public func equalsIgnoringASCIICase<A: StringProtocol, B: StringProtocol>(_ a: A, _ b: B) -> Bool {
    a.utf8.elementsEqual(b.utf8) { x, y in
        x == y || (x | 0x20 == y | 0x20 && (0x61...0x7A).contains(x | 0x20))
    }
}

/// Durations as operators type them: a whole number and a unit (`90s`, `10m`, `12h`, `30d`,
/// `2w`); with `bareSeconds`, a plain number is seconds. nil for anything else or beyond `max`.
public enum DurationText {
    public static func seconds(_ text: String, bareSeconds: Bool = false, max: Int) -> Int? {
        let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400]
        var number = Substring(text), scale = 1
        if let last = text.last, let unit = units[last] {
            number = number.dropLast()
            scale = unit
        } else if !bareSeconds {
            return nil
        }
        guard !number.isEmpty, number.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let n = Int(number) else { return nil }
        let (product, overflow) = n.multipliedReportingOverflow(by: scale)
        return overflow || product > max ? nil : product
    }
}

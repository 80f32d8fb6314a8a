import CorsdBase

/// Why a JSON text was refused: a rule name for problem+json and where it broke.
public struct JSONParseError: Error, Equatable, CustomStringConvertible {
    /// One of `json`, `duplicate_key`, `number_range`, `utf8`, `max_depth`.
    public var rule: Rule
    /// Byte offset in the text.
    public var offset: Int
    public var message: String

    public var description: String { "\(message) at byte \(offset)" }
}

/// A strict, one-pass JSON parser (RFC 8259) for untrusted input: linear in the input's size,
/// nesting bounded, duplicate keys, unsafe integers and invalid UTF-8 refused.
public struct JSONParser {
    public static let maxDepth = 32
    private let bytes: [UInt8]
    private var i = 0
    private var depth = 0

    public static func parse(_ bytes: [UInt8]) -> Result<JSONValue, JSONParseError> {
        var parser = JSONParser(bytes: bytes)
        do throws(JSONParseError) {
            parser.skipWhitespace()
            let value = try parser.value()
            parser.skipWhitespace()
            guard parser.i == bytes.count else { throw parser.fail(.json, "text after the JSON value") }
            return .success(value)
        } catch {
            return .failure(error)
        }
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private func fail(_ rule: Rule, _ message: String) -> JSONParseError {
        JSONParseError(rule: rule, offset: i, message: message)
    }

    private var peek: UInt8? { i < bytes.count ? bytes[i] : nil }

    private mutating func skipWhitespace() {
        while let b = peek, b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D { i += 1 }
    }

    private mutating func value() throws(JSONParseError) -> JSONValue {
        guard let b = peek else { throw fail(.json, "unexpected end of text") }
        switch b {
        case 0x7B: return try container { p throws(JSONParseError) in try p.object() }
        case 0x5B: return try container { p throws(JSONParseError) in try p.array() }
        case 0x22: return .string(try string())
        case 0x74: try literal("true"); return .bool(true)
        case 0x66: try literal("false"); return .bool(false)
        case 0x6E: try literal("null"); return .null
        case 0x2D, 0x30...0x39: return .number(try number())
        default: throw fail(.json, "unexpected character")
        }
    }

    private mutating func container(_ body: (inout JSONParser) throws(JSONParseError) -> JSONValue) throws(JSONParseError) -> JSONValue {
        depth += 1
        guard depth <= Self.maxDepth else { throw fail(.maxDepth, "nested deeper than \(Self.maxDepth)") }
        let v = try body(&self)
        depth -= 1
        return v
    }

    private mutating func object() throws(JSONParseError) -> JSONValue {
        i += 1
        var members: [String: JSONValue] = [:]
        skipWhitespace()
        if peek == 0x7D { i += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard peek == 0x22 else { throw fail(.json, "expected a member name") }
            let keyOffset = i
            let key = try string()
            skipWhitespace()
            guard peek == 0x3A else { throw fail(.json, "expected ':'") }
            i += 1
            skipWhitespace()
            let v = try value()
            guard members.updateValue(v, forKey: key) == nil else {
                throw JSONParseError(rule: .duplicateKey, offset: keyOffset, message: "the member '\(key)' appears twice")
            }
            skipWhitespace()
            switch peek {
            case 0x2C: i += 1
            case 0x7D: i += 1; return .object(members)
            default: throw fail(.json, "expected ',' or '}'")
            }
        }
    }

    private mutating func array() throws(JSONParseError) -> JSONValue {
        i += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if peek == 0x5D { i += 1; return .array(items) }
        while true {
            skipWhitespace()
            items.append(try value())
            skipWhitespace()
            switch peek {
            case 0x2C: i += 1
            case 0x5D: i += 1; return .array(items)
            default: throw fail(.json, "expected ',' or ']'")
            }
        }
    }

    private mutating func literal(_ word: StaticString) throws(JSONParseError) {
        let w = word.utf8Start
        for k in 0..<word.utf8CodeUnitCount {
            guard peek == w[k] else { throw fail(.json, "unexpected character") }
            i += 1
        }
    }

    private mutating func number() throws(JSONParseError) -> Double {
        let start = i
        var isInteger = true
        if peek == 0x2D { i += 1 }
        guard let first = peek, (0x30...0x39).contains(first) else { throw fail(.json, "expected a digit") }
        if first == 0x30 { i += 1 } else { while let d = peek, (0x30...0x39).contains(d) { i += 1 } }
        if peek == 0x2E {
            isInteger = false
            i += 1
            guard let d = peek, (0x30...0x39).contains(d) else { throw fail(.json, "expected a digit after '.'") }
            while let d = peek, (0x30...0x39).contains(d) { i += 1 }
        }
        if peek == 0x65 || peek == 0x45 {
            isInteger = false
            i += 1
            if peek == 0x2B || peek == 0x2D { i += 1 }
            guard let d = peek, (0x30...0x39).contains(d) else { throw fail(.json, "expected a digit in the exponent") }
            while let d = peek, (0x30...0x39).contains(d) { i += 1 }
        }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        if isInteger {
            // Exactly, from the digits: a double would round 2^53 + 1 down into range.
            guard let n = Int64(text), n.magnitude <= 1 << 53 else {
                throw JSONParseError(rule: .numberRange, offset: start, message: "integers must be within ±2^53")
            }
            return Double(n)
        }
        guard let value = Double(text), value.isFinite else {
            throw JSONParseError(rule: .numberRange, offset: start, message: "the number is out of range")
        }
        return value
    }

    private mutating func string() throws(JSONParseError) -> String {
        i += 1
        var out: [UInt8] = []
        while true {
            guard let b = peek else { throw fail(.json, "unterminated string") }
            switch b {
            case 0x22:
                i += 1
                return String(decoding: out, as: UTF8.self)
            case 0x5C:
                i += 1
                try escape(into: &out)
            case 0x00..<0x20:
                throw fail(.json, "control character in a string (escape it)")
            case 0x80...:
                try utf8Sequence(into: &out)
            default:
                out.append(b)
                i += 1
            }
        }
    }

    private mutating func escape(into out: inout [UInt8]) throws(JSONParseError) {
        guard let e = peek else { throw fail(.json, "unterminated escape") }
        i += 1
        switch e {
        case 0x22, 0x5C, 0x2F: out.append(e)
        case 0x62: out.append(0x08)
        case 0x66: out.append(0x0C)
        case 0x6E: out.append(0x0A)
        case 0x72: out.append(0x0D)
        case 0x74: out.append(0x09)
        case 0x75:
            var scalar = try hex4()
            if (0xD800...0xDBFF).contains(scalar) {
                guard peek == 0x5C, i + 1 < bytes.count, bytes[i + 1] == 0x75 else { throw fail(.utf8, "a lone high surrogate") }
                i += 2
                let low = try hex4()
                guard (0xDC00...0xDFFF).contains(low) else { throw fail(.utf8, "a high surrogate without its low surrogate") }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00...0xDFFF).contains(scalar) {
                throw fail(.utf8, "a lone low surrogate")
            }
            guard let s = Unicode.Scalar(scalar) else { throw fail(.utf8, "not a Unicode scalar") }
            out.append(contentsOf: Array(String(Character(s)).utf8))
        default:
            throw fail(.json, "unknown escape")
        }
    }

    private mutating func hex4() throws(JSONParseError) -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard let h = peek else { throw fail(.json, "short \\u escape") }
            let d: UInt32
            switch h {
            case 0x30...0x39: d = UInt32(h - 0x30)
            case 0x41...0x46: d = UInt32(h - 0x41 + 10)
            case 0x61...0x66: d = UInt32(h - 0x61 + 10)
            default: throw fail(.json, "bad \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    /// One well-formed UTF-8 sequence (RFC 3629: no overlongs, no surrogates, ≤ U+10FFFF).
    private mutating func utf8Sequence(into out: inout [UInt8]) throws(JSONParseError) {
        guard let lead = peek else { return }
        let count: Int
        var low: UInt8 = 0x80, high: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: count = 2
        case 0xE0: count = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: count = 3
        case 0xED: count = 3; high = 0x9F
        case 0xF0: count = 4; low = 0x90
        case 0xF1...0xF3: count = 4
        case 0xF4: count = 4; high = 0x8F
        default: throw fail(.utf8, "invalid UTF-8")
        }
        guard i + count <= bytes.count else { throw fail(.utf8, "truncated UTF-8") }
        for k in 1..<count {
            let c = bytes[i + k]
            let range: ClosedRange<UInt8> = k == 1 ? low...high : 0x80...0xBF
            guard range.contains(c) else { throw fail(.utf8, "invalid UTF-8") }
        }
        out.append(contentsOf: bytes[i..<(i + count)])
        i += count
    }
}

/// corsd's pattern language, for origin patterns and the CORS URL regex: a small subset of
/// regular expressions that corsd and Python's `re` (django-cors-headers on the host) read the
/// same way, matched here in linear time.
///
/// The subset, over printable ASCII:
/// - literals (any printable ASCII character that is not a metacharacter), and `\` followed by
///   ASCII punctuation for a literal metacharacter (`\.`, `\-`, `\(` …);
/// - `.` (any character but newline), `\d` (`[0-9]`), `\w` (`[A-Za-z0-9_]`);
/// - bracket classes `[…]` and `[^…]` of literals, escaped punctuation, `\d`, `\w` and ASCII
///   ranges `a-z` (a literal `-` only first or last);
/// - non-capturing groups `(?:…)`, alternation `|`;
/// - quantifiers `?`, `*`, `+`, `{m}`, `{m,}`, `{m,n}` (n ≤ 255), at most one per atom.
///
/// Everything else (anchors, capturing or named groups, inline flags, look-arounds, `\p{…}`,
/// POSIX classes, set operations, `\Q…\E`, back-references, lazy or possessive quantifiers) is
/// refused with the construct named and the subset form suggested. Nested unbounded
/// quantifiers (`(?:a+)+`) are refused too: Python's `re` backtracks on them exponentially.
///
/// A pattern always matches the *whole* text. The Python rendering, `(?a)^(?:…)\Z`, says the
/// same to `re.match` (ASCII `\d`/`\w`; anchored at both ends), with the source in the middle
/// byte for byte. corsd matches bytes, which is what Python sees of a header: WSGI decodes
/// header bytes as Latin-1, one character per byte.
public struct SubsetRegex: Sendable, Hashable, CustomStringConvertible {
    /// The pattern as written.
    public let source: String
    private let program: Program

    /// The longest pattern accepted, in bytes.
    public static let maxLength = 1024
    /// The most NFA states a pattern may compile to (bounded repeats are expanded).
    public static let maxStates = 4096

    public struct ParseError: Error, Equatable, CustomStringConvertible {
        /// The construct, as written (`(?i)`, `\p{L}`, `^` …) or a short name.
        public var construct: String
        /// Byte offset in the pattern.
        public var offset: Int
        /// What is wrong and what to write instead.
        public var message: String

        public var description: String { "\(message) (at offset \(offset): \(construct))" }
    }

    public init(_ source: String) throws(ParseError) {
        var parser = Parser(Array(source.utf8))
        let node = try parser.parseWhole()
        var compiler = Compiler()
        let start = compiler.emit(node, next: compiler.matchState)
        guard compiler.states.count <= Self.maxStates else {
            throw ParseError(construct: "{m,n}", offset: 0, message: "the pattern expands to more than \(Self.maxStates) states; use smaller repeat counts")
        }
        self.source = source
        self.program = Program(states: compiler.states, start: start)
    }

    /// Whether the pattern matches all of `text` (its UTF-8 bytes).
    public func wholeMatches(_ text: String) -> Bool { program.matches(text.utf8) }

    /// Whether the pattern matches all of `bytes`.
    public func wholeMatches<C: Collection>(bytes: C) -> Bool where C.Element == UInt8 { program.matches(bytes) }

    /// The whole-text pattern for Python's `re.match`, as django-cors-headers applies origin
    /// regexes.
    public var python: String { "(?a)^(?:" + source + ")\\Z" }

    /// The prefix pattern for Python's `re.match` (`CORS_URLS_REGEX` on `path_info`).
    public var pythonPrefix: String { "(?a)(?:" + source + ")" }

    /// Whether the pattern matches a prefix of `text`, as `re.match` does.
    public func prefixMatches(_ text: String) -> Bool { program.matches(text.utf8, prefix: true) }

    public var description: String { source }
    public static func == (a: Self, b: Self) -> Bool { a.source == b.source }
    public func hash(into h: inout Hasher) { h.combine(source) }

    /// Escapes every metacharacter of `text`, for building a pattern from literal text.
    public static func escaped(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar.isASCII, Parser.isMeta(UInt8(scalar.value)) { out += "\\" }
            out.unicodeScalars.append(scalar)
        }
        return out
    }
}

// MARK: - Syntax

/// A set of bytes, as a 256-bit map.
struct ByteSet: Sendable, Hashable {
    private var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    static func == (a: ByteSet, b: ByteSet) -> Bool { a.words == b.words }
    func hash(into h: inout Hasher) { h.combine(words.0); h.combine(words.1); h.combine(words.2); h.combine(words.3) }

    init() {}
    init(_ byte: UInt8) { insert(byte) }
    init(_ range: ClosedRange<UInt8>) { for b in range { insert(b) } }

    static let digits = ByteSet(0x30...0x39)
    static let word: ByteSet = {
        var s = ByteSet(0x30...0x39)
        s.formUnion(ByteSet(0x41...0x5A)); s.formUnion(ByteSet(0x61...0x7A)); s.insert(0x5F)
        return s
    }()
    /// `.`: everything but newline.
    static let dot: ByteSet = { var s = ByteSet(0...255); s.remove(0x0A); return s }()

    func contains(_ b: UInt8) -> Bool {
        let bit = UInt64(1) << UInt64(b & 63)
        switch b >> 6 {
        case 0: return words.0 & bit != 0
        case 1: return words.1 & bit != 0
        case 2: return words.2 & bit != 0
        default: return words.3 & bit != 0
        }
    }

    mutating func insert(_ b: UInt8) {
        let bit = UInt64(1) << UInt64(b & 63)
        switch b >> 6 {
        case 0: words.0 |= bit
        case 1: words.1 |= bit
        case 2: words.2 |= bit
        default: words.3 |= bit
        }
    }

    mutating func remove(_ b: UInt8) {
        let bit = ~(UInt64(1) << UInt64(b & 63))
        switch b >> 6 {
        case 0: words.0 &= bit
        case 1: words.1 &= bit
        case 2: words.2 &= bit
        default: words.3 &= bit
        }
    }

    mutating func formUnion(_ o: ByteSet) {
        words = (words.0 | o.words.0, words.1 | o.words.1, words.2 | o.words.2, words.3 | o.words.3)
    }

    var inverted: ByteSet {
        var s = ByteSet()
        s.words = (~words.0, ~words.1, ~words.2, ~words.3)
        return s
    }
}

indirect enum RegexNode: Sendable {
    case bytes(ByteSet)
    case concat([RegexNode])
    case alternation([RegexNode])
    case repetition(RegexNode, min: Int, max: Int?)

    /// Whether an unbounded quantifier occurs inside.
    var hasUnbounded: Bool {
        switch self {
        case .bytes: return false
        case .concat(let nodes), .alternation(let nodes): return nodes.contains { $0.hasUnbounded }
        case .repetition(let node, _, let max): return max == nil || node.hasUnbounded
        }
    }
}

/// A recursive-descent parser over the pattern's bytes; every refusal names its construct.
private struct Parser {
    let text: [UInt8]
    var i = 0
    var depth = 0
    static let maxDepth = 32

    init(_ text: [UInt8]) { self.text = text }

    /// `\ . [ ] ( ) | ? * + { } ^ $`
    static func isMeta(_ b: UInt8) -> Bool {
        switch b {
        case 0x5C, 0x2E, 0x5B, 0x5D, 0x28, 0x29, 0x7C, 0x3F, 0x2A, 0x2B, 0x7B, 0x7D, 0x5E, 0x24: return true
        default: return false
        }
    }

    static func isPunctuation(_ b: UInt8) -> Bool {
        (0x21...0x2F).contains(b) || (0x3A...0x40).contains(b) || (0x5B...0x60).contains(b) || (0x7B...0x7E).contains(b)
    }

    func fail(_ construct: String, _ message: String, at offset: Int? = nil) -> SubsetRegex.ParseError {
        SubsetRegex.ParseError(construct: construct, offset: offset ?? i, message: message)
    }

    /// The text from `from` to the current position (at most 16 bytes), for messages.
    func snippet(from: Int, length: Int = 2) -> String {
        let end = min(text.count, from + length)
        return String(decoding: text[from..<end], as: UTF8.self)
    }

    var peek: UInt8? { i < text.count ? text[i] : nil }

    mutating func parseWhole() throws(SubsetRegex.ParseError) -> RegexNode {
        if text.isEmpty { throw fail("", "must not be empty") }
        if text.count > SubsetRegex.maxLength { throw fail("", "must be at most \(SubsetRegex.maxLength) bytes") }
        if let bad = text.firstIndex(where: { $0 < 0x20 || $0 > 0x7E }) {
            throw fail("non-ASCII", "must be printable ASCII: write internationalised domain names in their xn-- (punycode) form", at: bad)
        }
        let node = try parseAlternation()
        if let b = peek {
            // Only a stray ')' stops the top-level alternation early.
            throw fail(String(UnicodeScalar(b)), "unbalanced ')': escape it as \\) for a literal parenthesis")
        }
        return node
    }

    mutating func parseAlternation() throws(SubsetRegex.ParseError) -> RegexNode {
        var branches = [try parseConcat()]
        while peek == 0x7C {
            i += 1
            branches.append(try parseConcat())
        }
        if branches.count == 1, let only = branches.first { return only }
        return .alternation(branches)
    }

    mutating func parseConcat() throws(SubsetRegex.ParseError) -> RegexNode {
        var items: [RegexNode] = []
        while let b = peek, b != 0x7C, b != 0x29 {
            let atomStart = i
            let atom = try parseAtom()
            items.append(try parseQuantifier(atom, atomStart: atomStart))
        }
        if items.count == 1, let only = items.first { return only }
        return .concat(items)
    }

    mutating func parseQuantifier(_ atom: RegexNode, atomStart: Int) throws(SubsetRegex.ParseError) -> RegexNode {
        guard let b = peek else { return atom }
        let quantStart = i
        var min = 0, max: Int?
        switch b {
        case 0x3F: i += 1; max = 1
        case 0x2A: i += 1
        case 0x2B: i += 1; min = 1
        case 0x7B: (min, max) = try parseBraces()
        default: return atom
        }
        if let next = peek, next == 0x3F || next == 0x2B || next == 0x2A || next == 0x7B {
            let what = next == 0x3F ? "lazy quantifier" : next == 0x2B ? "possessive quantifier" : "repeated quantifier"
            throw fail(snippet(from: quantStart, length: i - quantStart + 1), "\(what): a pattern matches whole origins, so write a single quantifier (wrap in (?:…) to repeat a repetition)")
        }
        if max == nil && atom.hasUnbounded {
            throw fail(snippet(from: atomStart, length: i - atomStart), "nested unbounded quantifiers: Python's re on the host backtracks exponentially on them; write the group with one unbounded quantifier, e.g. [a-z0-9.-]+ instead of (?:[a-z0-9-]+\\.)+", at: atomStart)
        }
        return .repetition(atom, min: min, max: max)
    }

    /// `{m}`, `{m,}` or `{m,n}`; anything else after `{` is refused (Python would read it as
    /// literal text, which is never what was meant).
    mutating func parseBraces() throws(SubsetRegex.ParseError) -> (Int, Int?) {
        let start = i
        i += 1
        func number(_ p: inout Parser) -> Int? {
            var n = 0, digits = 0
            while let d = p.peek, (0x30...0x39).contains(d), digits < 4 {
                n = n * 10 + Int(d - 0x30); digits += 1; p.i += 1
            }
            return digits == 0 ? nil : n
        }
        let bad = fail("{", "a '{' must start a repeat {m}, {m,} or {m,n} with m ≤ n ≤ 255; escape it as \\{ for a literal brace", at: start)
        guard let m = number(&self) else { throw bad }
        var n: Int? = m
        if peek == 0x2C {
            i += 1
            n = number(&self)
        }
        guard peek == 0x7D else { throw bad }
        i += 1
        if m > 255 || (n ?? m) > 255 || (n.map { $0 < m } ?? false) { throw bad }
        return (m, n)
    }

    mutating func parseAtom() throws(SubsetRegex.ParseError) -> RegexNode {
        guard let b = peek else { throw fail("", "unexpected end of pattern") }
        switch b {
        case 0x2E: i += 1; return .bytes(.dot)
        case 0x5B: return .bytes(try parseClass())
        case 0x28: return try parseGroup()
        case 0x5C: return .bytes(try parseEscape(inClass: false))
        case 0x5E, 0x24:
            throw fail(String(UnicodeScalar(b)), "anchors are not needed: corsd matches every pattern against the whole origin (escape it as \\\(String(UnicodeScalar(b))) for a literal)")
        case 0x2A, 0x2B, 0x3F:
            throw fail(String(UnicodeScalar(b)), "nothing to repeat: a quantifier must follow a character, class or group (escape it for a literal)")
        case 0x7B:
            throw fail("{", "nothing to repeat: escape it as \\{ for a literal brace")
        case 0x5D, 0x7D:
            throw fail(String(UnicodeScalar(b)), "unbalanced '\(String(UnicodeScalar(b)))': escape it as \\\(String(UnicodeScalar(b))) for a literal")
        default:
            i += 1
            return .bytes(ByteSet(b))
        }
    }

    mutating func parseGroup() throws(SubsetRegex.ParseError) -> RegexNode {
        let start = i
        i += 1
        guard peek == 0x3F, i + 1 < text.count, text[i + 1] == 0x3A else {
            let construct: String
            let message: String
            if peek != 0x3F {
                construct = "("
                message = "capturing groups are not in the subset: write (?:…)"
            } else {
                let next = i + 1 < text.count ? text[i + 1] : 0
                switch next {
                case 0x50, 0x3C where i + 2 < text.count && text[i + 2] != 0x3D && text[i + 2] != 0x21:
                    construct = "(?P<…>"; message = "named groups are not in the subset: write (?:…)"
                case 0x3D, 0x21: construct = snippet(from: start, length: 3); message = "look-aheads are not in the subset"
                case 0x3C: construct = snippet(from: start, length: 4); message = "look-behinds are not in the subset"
                case 0x23: construct = "(?#"; message = "comments are not in the subset"
                default:
                    construct = snippet(from: start, length: 4)
                    message = "inline flags are not in the subset: origins are lower-case, so write lower-case literals (or a class such as [Aa])"
                }
            }
            throw fail(construct, message, at: start)
        }
        i += 2
        depth += 1
        if depth > Self.maxDepth { throw fail("(?:", "groups nest deeper than \(Self.maxDepth)", at: start) }
        let inner = try parseAlternation()
        guard peek == 0x29 else { throw fail("(?:", "missing ')' to close the group", at: start) }
        i += 1
        depth -= 1
        return inner
    }

    /// After `\`: `\d`, `\w`, or escaped punctuation.
    mutating func parseEscape(inClass: Bool) throws(SubsetRegex.ParseError) -> ByteSet {
        let start = i
        i += 1
        guard let b = peek else { throw fail("\\", "a trailing backslash escapes nothing", at: start) }
        i += 1
        switch b {
        case 0x64: return .digits
        case 0x77: return .word
        case _ where Self.isPunctuation(b): return ByteSet(b)
        case 0x70, 0x50:
            throw fail(snippet(from: start, length: 3), "Unicode properties are not in the subset: use an ASCII class such as [a-z]", at: start)
        case 0x51, 0x45:
            throw fail(snippet(from: start), "\\Q…\\E quoting is not in the subset (Python has none): escape each metacharacter with \\", at: start)
        case 0x41, 0x5A, 0x7A, 0x62, 0x42, 0x47:
            throw fail(snippet(from: start), "anchors are not needed: corsd matches every pattern against the whole origin", at: start)
        case 0x30...0x39:
            throw fail(snippet(from: start), "back-references and octal escapes are not in the subset", at: start)
        default:
            throw fail(snippet(from: start), "only \\d, \\w and escaped punctuation (\\. \\- …) are in the subset; for others write a class such as [ \\t] or [^a-z]", at: start)
        }
    }

    mutating func parseClass() throws(SubsetRegex.ParseError) -> ByteSet {
        let start = i
        i += 1
        var set = ByteSet()
        var negated = false
        if peek == 0x5E { negated = true; i += 1 }
        if peek == 0x3A, let close = text[i...].firstIndex(of: 0x5D), close > i + 1, text[close - 1] == 0x3A {
            throw fail(snippet(from: start, length: close - start + 1), "POSIX classes are not in the subset: write [a-z], [0-9] …", at: start)
        }
        let first = i
        var previous: UInt8?
        while true {
            guard let b = peek else { throw fail("[", "missing ']' to close the class", at: start) }
            if b == 0x5D {
                if i == first { throw fail("[]", "an empty class matches nothing; escape ']' as \\] for a literal", at: start) }
                i += 1
                break
            }
            if b == 0x5B { throw fail("[", "nested sets are not in the subset: escape '[' as \\[ inside a class") }
            if let p = previous, p == b, b == 0x26 || b == 0x7C || b == 0x7E || b == 0x2D {
                throw fail(snippet(from: i - 1), "set operations are not in the subset: escape the repeated '\(String(UnicodeScalar(b)))'", at: i - 1)
            }
            var lo: UInt8?
            let itemStart = i
            if b == 0x5C {
                let escaped = try parseEscape(inClass: true)
                let e = text[itemStart + 1]
                if e == 0x64 || e == 0x77 { set.formUnion(escaped); previous = nil; continue }
                lo = e
            } else if b == 0x2D {
                let last = i + 1 < text.count && text[i + 1] == 0x5D
                guard i == first || last else {
                    throw fail("-", "a literal '-' in a class goes first or last, or is escaped as \\-")
                }
                i += 1
                lo = b
            } else {
                i += 1
                lo = b
            }
            guard let low = lo else { continue }
            // A range: lo-hi, with hi a literal or escaped punctuation.
            if peek == 0x2D, i + 1 < text.count, text[i + 1] != 0x5D {
                i += 1
                var hi: UInt8
                let hiStart = i
                if text[i] == 0x5C {
                    _ = try parseEscape(inClass: true)
                    hi = text[hiStart + 1]
                    if hi == 0x64 || hi == 0x77 { throw fail(snippet(from: itemStart, length: i - itemStart), "a range cannot end in \\d or \\w", at: itemStart) }
                } else {
                    hi = text[i]
                    i += 1
                }
                guard low <= hi else { throw fail(snippet(from: itemStart, length: i - itemStart), "the range is reversed", at: itemStart) }
                set.formUnion(ByteSet(low...hi))
                previous = nil
            } else {
                set.insert(low)
                previous = b == 0x5C ? nil : low
            }
        }
        return negated ? set.inverted : set
    }
}

// MARK: - Matching

/// A Thompson NFA over bytes, simulated state-set by state-set: time O(text × states), no
/// backtracking, whatever the pattern.
private struct Program: Sendable, Hashable {
    enum State: Sendable, Hashable {
        case byte(ByteSet, next: Int)
        case split(Int, Int)
        case match
    }

    let states: [State]
    let start: Int

    /// With `prefix`, a match of any prefix of `text` counts.
    func matches<C: Collection>(_ text: C, prefix: Bool = false) -> Bool where C.Element == UInt8 {
        var current: [Int] = []
        var next: [Int] = []
        var mark = [Int](repeating: -1, count: states.count)
        var stack: [Int] = []
        var generation = 0

        func addClosure(_ s: Int, into list: inout [Int]) {
            stack.append(s)
            while let t = stack.popLast() {
                guard t >= 0, t < states.count, mark[t] != generation else { continue }
                mark[t] = generation
                switch states[t] {
                case .split(let a, let b): stack.append(b); stack.append(a)
                default: list.append(t)
                }
            }
        }

        func accepts(_ list: [Int]) -> Bool { list.contains { if case .match = states[$0] { return true } else { return false } } }

        addClosure(start, into: &current)
        for b in text {
            if prefix && accepts(current) { return true }
            generation += 1
            next.removeAll(keepingCapacity: true)
            for s in current {
                if case .byte(let set, let n) = states[s], set.contains(b) { addClosure(n, into: &next) }
            }
            if next.isEmpty { return false }
            swap(&current, &next)
        }
        return accepts(current)
    }
}

/// Builds the NFA back to front: each node is emitted with the state it continues to.
private struct Compiler {
    var states: [Program.State] = [.match]
    let matchState = 0

    mutating func append(_ s: Program.State) -> Int {
        states.append(s)
        return states.count - 1
    }

    mutating func emit(_ node: RegexNode, next: Int) -> Int {
        // Stop growing once over the limit; the caller refuses the pattern.
        if states.count > SubsetRegex.maxStates { return next }
        switch node {
        case .bytes(let set):
            return append(.byte(set, next: next))
        case .concat(let nodes):
            var n = next
            for node in nodes.reversed() { n = emit(node, next: n) }
            return n
        case .alternation(let nodes):
            let starts = nodes.map { emit($0, next: next) }
            guard var s = starts.last else { return next }
            for start in starts.dropLast().reversed() { s = append(.split(start, s)) }
            return s
        case .repetition(let body, let min, let max):
            var n = next
            if let max {
                for _ in 0..<(max - min) {
                    let b = emit(body, next: n)
                    n = append(.split(b, next))
                }
            } else {
                let loop = append(.split(-1, next))
                let b = emit(body, next: loop)
                states[loop] = .split(b, next)
                n = loop
            }
            for _ in 0..<min { n = emit(body, next: n) }
            return n
        }
    }
}

extension SubsetRegex: Codable {
    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { self = try SubsetRegex(text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(source)
    }
}

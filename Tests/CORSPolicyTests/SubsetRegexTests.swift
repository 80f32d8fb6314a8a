import CORSPolicy
import Foundation
import TestSupport
import Testing

/// corsd's pattern language: what it refuses (by name), and that corsd's matcher and Python's
/// `re` on the rendered text agree, checked by running Python.
struct SubsetRegexTests {
    /// Constructs outside the subset, each refused with the construct named.
    @Test(arguments: [
        ("[[:alpha:]]", "["), ("[:alpha:]", "[:alpha:]"), (#"\p{L}"#, #"\p{"#), (#"\P{L}"#, #"\P{"#),
        ("(?P<host>a)", "(?P<…>"), ("(?<host>a)", "(?P<…>"), ("[a-z&&[^b]]", "&&"), ("[a&&b]", "&&"), ("[a--b]", "--"), ("[a||b]", "||"),
        ("(?i)a", "(?i)"), ("a(?i)", "(?i)"), (#"a\z"#, #"\z"#), (#"a\Z"#, #"\Z"#), (#"\Aa"#, #"\A"#), (#"\Qa.b\E"#, #"\Q"#),
        ("^https://a", "^"), ("https://a$", "$"), ("(a)", "("), ("(?=a)a", "(?=a"), ("(?!a)a", "(?!a"), ("(?<=a)b", "(?<=a"),
        (#"(?:a)\1"#, #"\1"#), ("a*?", "*?"), ("a*+", "*+"), ("a{2}{3}", "{2}{"), ("(?:a+)+", "(?:a+)+"), ("(?:a*b)*", "(?:a*b)*"),
        ("a{x}", "{"), ("a{3,1}", "{"), ("a{300}", "{"), ("{", "{"), ("a}", "}"), ("]", "]"), ("a)", ")"), ("(?:a", "(?:"),
        ("[]a]", "[]"), ("[a-b-c]", "-"), ("[z-a]", "z-a"), (#"[\d-z]"#, "-"), ("*a", "*"), (#"a\"#, #"\"#), (#"\s"#, #"\s"#),
        ("https://bücher.example", "non-ASCII"), ("(?#comment)", "(?#"),
    ])
    func refusesOutsideTheSubset(pattern: String, construct: String) {
        do {
            _ = try SubsetRegex(pattern)
            Issue.record("accepted \(pattern)")
        } catch {
            #expect(error.construct.contains(construct) || construct.contains(error.construct), "\(pattern): \(error)")
            #expect(!error.message.isEmpty)
        }
    }

    @Test(arguments: [
        #"https://[a-z0-9-]+\.example\.org"#, #"https?://(?:www\.)?example\.(?:org|net)"#, #"http://localhost:\d{4,5}"#,
        #"https://tiles[0-9]{1,3}\.example\.com"#, "https://[^.:/]+.example.org", #"[a-]\w*"#, "(?:)", "a|", #"\{\}\^\$"#,
    ])
    func acceptsTheSubset(pattern: String) throws {
        _ = try SubsetRegex(pattern)
    }

    @Test func matchesWholeTextAndPrefixes() throws {
        let r = try SubsetRegex(#"https://[a-z]+\.example\.org"#)
        #expect(r.wholeMatches("https://viewer.example.org"))
        #expect(!r.wholeMatches("https://viewer.example.org.evil.com"))
        #expect(r.prefixMatches("https://viewer.example.org.evil.com"))
        #expect(r.python == #"(?a)^(?:https://[a-z]+\.example\.org)\Z"#)
    }

    /// Linear by construction: a pattern that backtracks exponentially elsewhere takes one
    /// pass per byte here (2 KiB of input, 25 alternations of the same thing).
    @Test func noBacktracking() throws {
        let r = try SubsetRegex(String(repeating: "(?:a|a)?", count: 25) + String(repeating: "a", count: 25) + "b")
        #expect(!r.wholeMatches(String(repeating: "a", count: 2048)))
    }

    /// ≥ 10,000 generated (pattern, origin) pairs: corsd's matcher and Python's
    /// `re.match(rendered, origin)` (what django-cors-headers runs on the host) agree on every one.
    @Test func agreesWithPythonOnGeneratedPairs() throws {
        var rng = SplitMix64(seed: 0xC0125D)
        var cases: [(pattern: String, origins: [String])] = []
        while cases.count < 600 {
            let node = Gen.node(&rng, depth: 0)
            let source = node.source
            guard let regex = try? SubsetRegex(source) else { continue }  // e.g. over the state limit
            var origins: [String] = []
            for _ in 0..<10 { origins.append(node.sample(&rng)) }
            for i in 0..<8 { origins.append(Gen.mutate(origins[i], &rng)) }
            origins.append(String((0..<Int(rng.next() % 12)).map { _ in Gen.alphabet.randomElement(using: &rng)! }))
            origins.append("")
            _ = regex
            cases.append((source, origins))
        }
        let ours = try cases.map { c in try c.origins.map { try SubsetRegex(c.pattern).wholeMatches($0) } }
        let program = """
        import json, re, sys, warnings
        warnings.simplefilter("error")  # a FutureWarning (possible set operation, …) is a failure too
        out = []
        for case in json.load(sys.stdin):
            rx = re.compile(case["python"])
            out.append([rx.match(o) is not None for o in case["origins"]])
        print(json.dumps(out))
        """
        let payload = try JSONSerialization.data(withJSONObject: cases.map { c in
            ["python": try SubsetRegex(c.pattern).python, "origins": c.origins] as [String: Any]
        })
        let theirs = try JSONDecoder().decode([[Bool]].self, from: runPython(program, stdin: payload))
        var pairs = 0, disagreements: [String] = []
        for (i, c) in cases.enumerated() {
            for (j, origin) in c.origins.enumerated() {
                pairs += 1
                if ours[i][j] != theirs[i][j] { disagreements.append("\(c.pattern) on \(origin): corsd \(ours[i][j]), python \(theirs[i][j])") }
            }
        }
        #expect(pairs >= 10_000)
        #expect(disagreements.isEmpty, "\(disagreements.count) of \(pairs): \(disagreements.prefix(5))")
        #expect(ours.joined().filter { $0 }.count > pairs / 5, "enough matching pairs to mean something")
    }
}


/// Patterns of the subset as trees, rendered to text and sampled for matching strings.
indirect enum Gen {
    case literal(Character)
    case set(source: String, members: [Character])
    case concat([Gen])
    case alternation([Gen])
    case repetition(Gen, min: Int, max: Int?, source: String)

    static let alphabet = Array("abhtps:/.-0129xz_AZ")
    static let sets: [(String, [Character])] = [
        (".", alphabet), (#"\d"#, Array("0129")), (#"\w"#, Array("abhtpsxz0129_AZ")), ("[a-z]", Array("abhtpsxz")),
        ("[^.]", alphabet.filter { $0 != "." }), ("[0-9a-f]", Array("0129ab")), ("[a-]", ["a", "-"]), (#"[\.:]"#, [".", ":"]),
        ("[^a-z0-9]", Array(":/.-_AZ")), (#"[\w.-]"#, Array("abhtpsxz0129_AZ.-")),
    ]

    static func node(_ rng: inout SplitMix64, depth: Int) -> Gen {
        switch rng.next() % (depth > 2 ? 3 : 6) {
        case 0, 1:
            return .literal(alphabet.randomElement(using: &rng)!)
        case 2:
            let s = sets.randomElement(using: &rng)!
            return .set(source: s.0, members: s.1)
        case 3:
            return .concat((0..<(2 + Int(rng.next() % 5))).map { _ in node(&rng, depth: depth + 1) })
        case 4:
            return .alternation((0..<(2 + Int(rng.next() % 2))).map { _ in node(&rng, depth: depth + 1) })
        default:
            let body = node(&rng, depth: depth + 1)
            let quantifiers: [(Int, Int?, String)] = [(0, 1, "?"), (0, nil, "*"), (1, nil, "+"), (2, 2, "{2}"), (1, nil, "{1,}"), (0, 3, "{0,3}"), (1, 2, "{1,2}")]
            var q = quantifiers.randomElement(using: &rng)!
            if q.1 == nil && body.hasUnbounded { q = (0, 1, "?") }
            return .repetition(body, min: q.0, max: q.1, source: q.2)
        }
    }

    var hasUnbounded: Bool {
        switch self {
        case .literal, .set: return false
        case .concat(let n), .alternation(let n): return n.contains { $0.hasUnbounded }
        case .repetition(let b, _, let max, _): return max == nil || b.hasUnbounded
        }
    }

    var source: String {
        switch self {
        case .literal(let c): return SubsetRegex.escaped(String(c))
        case .set(let s, _): return s
        case .concat(let nodes): return nodes.map(\.atomSource).joined()
        case .alternation(let nodes): return "(?:" + nodes.map(\.source).joined(separator: "|") + ")"
        case .repetition(let body, _, _, let q): return body.atomSource + q
        }
    }

    /// As an operand of concatenation or a quantifier.
    var atomSource: String {
        switch self {
        case .concat, .repetition: return "(?:" + source + ")"
        default: return source
        }
    }

    func sample(_ rng: inout SplitMix64) -> String {
        switch self {
        case .literal(let c): return String(c)
        case .set(_, let members): return String(members.randomElement(using: &rng)!)
        case .concat(let nodes): return nodes.map { $0.sample(&rng) }.joined()
        case .alternation(let nodes): return nodes.randomElement(using: &rng)!.sample(&rng)
        case .repetition(let body, let min, let max, _):
            let count = min + Int(rng.next() % UInt64((max ?? min + 3) - min + 1))
            return (0..<count).map { _ in body.sample(&rng) }.joined()
        }
    }

    static func mutate(_ s: String, _ rng: inout SplitMix64) -> String {
        var chars = Array(s)
        let c = alphabet.randomElement(using: &rng)!
        switch rng.next() % 3 {
        case 0: chars.insert(c, at: chars.isEmpty ? 0 : Int(rng.next() % UInt64(chars.count + 1)))
        case 1: if !chars.isEmpty { chars.remove(at: Int(rng.next() % UInt64(chars.count))) }
        default: if !chars.isEmpty { chars[Int(rng.next() % UInt64(chars.count))] = c }
        }
        return String(chars)
    }
}

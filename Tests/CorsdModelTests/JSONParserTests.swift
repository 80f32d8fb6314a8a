import CorsdModel
import Foundation
import TestSupport
import Testing

/// The strict JSON parser for untrusted bodies: one rule per row, and agreement with Python's
/// `json` (run by the test) on generated documents.
struct JSONParserTests {
    @Test(arguments: [
        (#"{"a":1}"#, nil), (#" [1, 2.5, -0, 1e3, "x", true, false, null] "#, nil), (#""\u00e9\ud83d\ude00""#, nil),
        (#"{"a":1,"a":2}"#, "duplicate_key"), (#"{"a":{"b":1,"b":1}}"#, "duplicate_key"),
        ("9007199254740993", "number_range"), ("-9007199254740993", "number_range"), ("9007199254740992", nil), ("1e400", "number_range"),
        (#""\ud800""#, "utf8"), (#""\udc00x""#, "utf8"), ("\"\u{FF}\"", nil),
        ("[01]", "json"), ("[1,]", "json"), ("{'a':1}", "json"), ("[1] [2]", "json"), ("\"a\nb\"", "json"), ("", "json"), ("[", "json"),
        ("tru", "json"), (#""\x""#, "json"), ("NaN", "json"), ("-", "json"), ("1.", "json"), (".5", "json"),
    ] as [(String, String?)])
    func rules(text: String, rule: String?) {
        switch JSONValue.parse(Array(text.utf8)) {
        case .success: #expect(rule == nil, "\(text) accepted")
        case .failure(let e): #expect(e.rule.rawValue == rule, "\(text): \(e)")
        }
    }

    @Test func invalidUTF8IsRefused() {
        for bytes: [UInt8] in [[0x22, 0xFF, 0x22], [0x22, 0xC0, 0xAF, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xE2, 0x82, 0x22], [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22]] {
            guard case .failure(let e) = JSONValue.parse(bytes) else { Issue.record("\(bytes) accepted"); continue }
            #expect(e.rule == .utf8)
        }
    }

    @Test func nestingIsBounded() {
        let ok = String(repeating: "[", count: 32) + String(repeating: "]", count: 32)
        let deep = String(repeating: "[", count: 33) + String(repeating: "]", count: 33)
        #expect((try? JSONValue.parse(Array(ok.utf8)).get()) != nil)
        guard case .failure(let e) = JSONValue.parse(Array(deep.utf8)) else { Issue.record("33 levels accepted"); return }
        #expect(e.rule == .maxDepth)
        guard case .failure(let huge) = JSONValue.parse(Array((String(repeating: "[", count: 100_000)).utf8)) else { Issue.record(); return }
        #expect(huge.rule == .maxDepth)
    }

    /// Generated documents (nested, Unicode, escapes, numbers): the same value as Python's
    /// `json.loads`, which the test runs.
    @Test func agreesWithPythonOnGeneratedDocuments() throws {
        var rng = SplitMix64(seed: 8259)
        func gen(_ depth: Int) -> String {
            switch rng.next() % (depth > 3 ? 4 : 6) {
            case 0: return ["true", "false", "null"][Int(rng.next() % 3)]
            case 1: return String(Int64(bitPattern: rng.next() % (1 << 53)) * (rng.next() % 2 == 0 ? 1 : -1))
            case 2: return ["0.5", "-1.25e2", "3E-2", "0"][Int(rng.next() % 4)]
            case 3:
                let pieces = ["a", "é", "\\n", "\\u00e9", "\\ud83d\\ude00", "\\\"", "😀", " ", "\\/", "\\\\"]
                return "\"" + (0..<Int(rng.next() % 6)).map { _ in pieces[Int(rng.next() % UInt64(pieces.count))] }.joined() + "\""
            case 4: return "[" + (0..<Int(rng.next() % 4)).map { _ in gen(depth + 1) }.joined(separator: ",") + "]"
            default: return "{" + (0..<Int(rng.next() % 4)).map { k in "\"k\(k)\": " + gen(depth + 1) }.joined(separator: ", ") + "}"
            }
        }
        let docs = (0..<500).map { _ in gen(0) }
        let ours = try docs.map { String(decoding: try JSONEncoder.sorted.encode(try JSONValue.parse(Array($0.utf8)).get()), as: UTF8.self) }
        let program = """
        import json, sys
        print(json.dumps([json.dumps(json.loads(d), sort_keys=True, separators=(",", ":"), ensure_ascii=False) for d in json.load(sys.stdin)]))
        """
        let theirs = try JSONDecoder().decode([String].self, from: runPython(program, stdin: try JSONEncoder().encode(docs)))
        // Compare as values: both sides decoded again by Foundation.
        #expect(ours.count == theirs.count)
        for (i, (a, b)) in zip(ours, theirs).enumerated() {
            let x = try JSONDecoder().decode(JSONValue.self, from: Data(a.utf8))
            let y = try JSONDecoder().decode(JSONValue.self, from: Data(b.utf8))
            #expect(x == y, "\(docs[i]): \(a) vs \(b)")
        }
    }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}

@Suite struct PrettyTextTests {
    @Test(arguments: [
        JSONValue.object(["b": .array([]), "a": .object([:]), "c": .string("é \"q\" \\ \n\u{2028}😀"), "d": .number(-3), "e": .null]),
        .array([.bool(true), .number(1.5), .string("")]),
    ])
    func prettyTextIsASCIIAndParsesBack(_ value: JSONValue) throws {
        let text = value.prettyText()
        #expect(text.unicodeScalars.allSatisfy { $0.isASCII })
        #expect(text.hasSuffix("\n"))
        #expect(try JSONValue.parse(Array(text.utf8)).get() == value)
    }

    @Test func keysAreSortedAndEmptyContainersCompact() {
        #expect(JSONValue.object(["b": .array([]), "a": .object([:])]).prettyText() == "{\n  \"a\": {},\n  \"b\": []\n}\n")
    }
}

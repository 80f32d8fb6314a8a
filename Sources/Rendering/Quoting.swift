import CorsdModel

/// Literal quoting for the languages corsd writes. Each produces pure printable ASCII on one
/// line, so no value, even one that somehow bypassed validation, can end a line, a string or
/// a comment early and so change the program around it.
public enum Quoting {
    /// A Python string literal: single quotes, with `\`, `'` and everything outside printable
    /// ASCII escaped (`\n`, `\xNN`, `\uNNNN`, `\UNNNNNNNN`).
    public static func python(_ s: String) -> String {
        var out = "'"
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "'": out += "\\'"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case " "..."~": out.unicodeScalars.append(scalar)
            default:
                let v = scalar.value
                if v <= 0xFF { out += "\\x" + hex(v, 2) } else if v <= 0xFFFF { out += "\\u" + hex(v, 4) } else { out += "\\U" + hex(v, 8) }
            }
        }
        return out + "'"
    }

    /// A POSIX shell word: single-quoted, `'` written as `'\''`. Single quotes keep everything
    /// literal; control characters are refused upstream, and here replaced so a line never
    /// breaks.
    public static func shell(_ s: String) -> String {
        var out = "'"
        for scalar in s.unicodeScalars {
            if scalar == "'" { out += "'\\''" } else if scalar.value < 0x20 || scalar.value == 0x7F || scalar == "\u{2028}" || scalar == "\u{2029}" || (0x80...0x9F).contains(scalar.value) {
                out += "?"
            } else { out.unicodeScalars.append(scalar) }
        }
        return out + "'"
    }

    /// A JSON string (RFC 8259), ASCII only.
    public static func json(_ s: String) -> String { JSONValue.quote(s) }

    /// A comment-safe rendering of free text: printable ASCII kept, anything else as `?`.
    public static func comment(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.map { (" "..."~").contains($0) ? $0 : "?" }))
    }

    static func hex(_ v: UInt32, _ width: Int) -> String {
        let digits = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}

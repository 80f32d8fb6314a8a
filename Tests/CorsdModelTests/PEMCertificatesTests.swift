import CorsdModel
import Testing

/// The syntax check of `upstream_ca` (PEM CERTIFICATE blocks), a pure function of the text.
@Suite struct PEMCertificatesTests {
    /// A real self-signed P-256 certificate (public part only; made with `openssl req -x509`),
    /// ending with a newline as PEM files do.
    static let certificate = """
-----BEGIN CERTIFICATE-----
MIIBhDCCASugAwIBAgIUA+ORY1rISlTVA6dAWXh5RAiNmmAwCgYIKoZIzj0EAwIw
GDEWMBQGA1UEAwwNY29yc2QgdGVzdCBDQTAeFw0yNjEyMDQxOTEzMjBaFw0zNjEy
MDExOTEzMjBaMBgxFjAUBgNVBAMMDWNvcnNkIHRlc3QgQ0EwWTATBgcqhkjOPQIB
BggqhkjOPQMBBwNCAAQdOo0yN6KR44mLwgqtrQZVqEHx1u082QXHXRmesOrnpWhv
H4J09/yvBF+yV4HW/QdDGIG2U2KH+zs7h3aRm6kGo1MwUTAdBgNVHQ4EFgQUWHij
vJLZuyliFJkoyOJ0O5pEwdgwHwYDVR0jBBgwFoAUWHijvJLZuyliFJkoyOJ0O5pE
wdgwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBEAiAWsJMIM3ng1Vdm
z0IcMEpf9QYWFSlvvr5B7KaP74XhOQIgEYqon5ny8k93Zbhhuj47V3TZA29YMO0R
Bks/jGSuDds=
-----END CERTIFICATE-----

"""

    struct Row: CustomTestStringConvertible, Sendable {
        var name: String
        var text: String
        /// A part of the expected message, or nil when the text is valid.
        var problem: String?
        var testDescription: String { name }
    }

    static let rows: [Row] = [
        Row(name: "OneCertificate", text: certificate, problem: nil),
        Row(name: "BundleWithComments", text: "# Issuer: CN=corsd test CA\n" + certificate + "\n# another\n" + certificate, problem: nil),
        Row(name: "CRLFLineEnds", text: certificate.replacingOccurrences(of: "\n", with: "\r\n"), problem: nil),
        Row(name: "Empty", text: "", problem: "at least one"),
        Row(name: "CommentsOnly", text: "# nothing here\n", problem: "at least one"),
        Row(name: "Unterminated", text: String(certificate.dropLast("-----END CERTIFICATE-----\n".count)), problem: "no END CERTIFICATE"),
        Row(name: "EndWithoutBegin", text: "-----END CERTIFICATE-----\n", problem: "without a BEGIN"),
        Row(name: "NestedBegin", text: "-----BEGIN CERTIFICATE-----\n" + certificate, problem: "inside a certificate"),
        Row(name: "NotBase64", text: "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n", problem: "only base64"),
        Row(name: "Base64ButNotDER", text: "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n", problem: "not base64 DER"),
        Row(name: "PrivateKeyRefused", text: certificate + "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", problem: "no keys"),
        Row(name: "ControlCharacter", text: certificate + "\u{7}\n", problem: "control character"),
        Row(name: "TooManyCertificates", text: String(repeating: certificate, count: PEMCertificates.maxCertificates + 1), problem: "at most"),
        Row(name: "TooLarge", text: certificate + String(repeating: "#", count: PEMCertificates.maxBytes), problem: "at most"),
    ]

    @Test(arguments: rows)
    func syntax(_ row: Row) {
        let problem = PEMCertificates.problem(in: row.text)
        if let expected = row.problem {
            #expect(problem?.contains(expected) == true, "got \(problem ?? "no problem")")
        } else {
            #expect(problem == nil)
        }
    }
}

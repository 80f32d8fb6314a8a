import CorsdModel
import Testing

/// `Authority.isValid` guards `public_host` and the `Host` a tile client sends.
@Suite struct AuthorityTests {
    @Test(arguments: [
        "omero.example.org", "omero.example.org:8443", "localhost", "a", "a-b.c_d.e", "127.0.0.1:80",
        "[::1]", "[::1]:8080", "[2001:db8::1]", String(repeating: "a", count: 63) + ".org", "x:65535",
    ])
    func accepts(_ authority: String) {
        #expect(Authority.isValid(authority))
        #expect(Authority.isValid(Substring(authority)))
    }

    @Test(arguments: [
        "", ".", "a.", ".a", "a..b", "-a.org", "a-.org", "a.-b", "a b", "a/b", "a@b", "a:", "a:0", "a:65536", "a:123456",
        "a:8x", "[]", "[::1", "[zz]", "[::1]x", "[::1]:", String(repeating: "a", count: 64) + ".org",
        String(repeating: "a.", count: 132) + "a", "ümlaut.org",
    ])
    func refuses(_ authority: String) {
        #expect(!Authority.isValid(authority))
    }
}

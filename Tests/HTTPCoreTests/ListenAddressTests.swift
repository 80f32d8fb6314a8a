import HTTPCore
import Testing

/// `--listen` forms (no socket is bound here).
@Suite struct ListenAddressTests {
    @Test(arguments: [
        ("127.0.0.1:8080", "127.0.0.1:8080"),
        ("[::1]:8080", "[::1]:8080"),
        (":8080", "0.0.0.0:8080"),
        (":0", "0.0.0.0:0"),
    ])
    func literalForms(_ text: String, _ expected: String) throws {
        #expect(try SocketAddress(listening: text).description == expected)
    }

    @Test func aNameIsResolvedToItsAddress() throws {
        let address = try SocketAddress(listening: "localhost:8080")
        #expect(["127.0.0.1:8080", "[::1]:8080"].contains(address.description))
    }

    @Test(arguments: ["", "8080", ":", ":99999", "localhost:99999", "127.0.0.1", "[::1:80", "::1:80", "host:port", ":-1"])
    func badFormsAreRefused(_ text: String) {
        #expect(throws: (any Error).self) { try SocketAddress(listening: text) }
    }
}

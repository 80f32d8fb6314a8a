import Foundation
import TestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The tile proxy's forwarding and cache rules through the real binary, in front of a scripted
/// loopback upstream that counts what reaches it.
final class TileProxyIntegrationTests: XCTestCase {
    static let admin = "proxy-admin"
    static let viewer = "https://viewer.example.org"

    /// Requests the upstream saw, by path, and the answer it gives each path.
    final class Upstream: @unchecked Sendable {
        private let lock = NSLock()
        private var counts: [String: Int] = [:]
        private var lastHeads: [String: String] = [:]
        var server: RawServer!

        init() throws {
            server = try RawServer { [self] connection in
                while let head = connection.readHead() {
                    let path = head.split(separator: " ").dropFirst().first.map(String.init) ?? ""
                    lock.withLock { counts[path, default: 0] += 1; lastHeads[path] = head }
                    connection.send(Self.answer(path: path, head: head))
                }
            }
        }

        func count(_ path: String) -> Int { lock.withLock { counts[path] ?? 0 } }
        func head(_ path: String) -> String { lock.withLock { lastHeads[path] ?? "" } }

        static func answer(path: String, head: String) -> String {
            func response(_ status: String, _ fields: [String], _ body: String) -> String {
                "HTTP/1.1 \(status)\r\n" + (fields + ["Content-Length: \(body.utf8.count)"]).map { $0 + "\r\n" }.joined() + "\r\n" + body
            }
            if path.contains("/get/1_files/") { return response("200 OK", ["Content-Type: image/jpeg"], "silent-tile") }  // like OMERO.web
            if path.contains("/get/2_files/") {
                return response("200 OK", ["Cache-Control: max-age=60", "Vary: Accept-Language"], "lang:" + (head.lowercased().contains("accept-language: fr") ? "fr" : "other"))
            }
            if path.contains("/get/3_files/") {
                if head.contains("If-None-Match: \"v1\"") { return response("304 Not Modified", ["ETag: \"v1\"", "Set-Cookie: sessionid=stolen", "Cache-Control: no-cache"], "") }
                return response("200 OK", ["ETag: \"v1\"", "Cache-Control: no-cache"], "validated")
            }
            return response("404 Not Found", [], "no")
        }
    }

    private var upstream: Upstream!
    private var corsd: CorsdProcess!
    private var api: APIClient!

    override func setUpWithError() throws {
        upstream = try Upstream()
        corsd = try CorsdProcess(environment: ["CORSD_ADMIN_TOKEN": Self.admin], debugRoutes: false)
        api = APIClient(port: corsd.port, token: Self.admin)
        try deploy("omero", #""cors":{"allowed_origins":["\#(Self.viewer)"]}"#)
    }

    override func tearDown() {
        corsd.stop()
        upstream.server.stop()
    }

    private func deploy(_ name: String, _ extra: String, port: Int? = nil) throws {
        let r = try api.call("PUT", "/api/v1/deployments/\(name)", json: #"{"upstream":"http://127.0.0.1:\#(port ?? upstream.server.port)",\#(extra)}"#)
        XCTAssert([200, 201].contains(r.status), r.text)
    }

    private func get(_ path: String, method: String = "GET", _ headers: [String: String] = [:]) throws -> RawResponse {
        let socket = try RawSocket(port: corsd.port)
        let fields = (["Host": "corsd", "Origin": Self.viewer, "Connection": "close"].merging(headers) { $1 }).map { "\($0): \($1)\r\n" }.joined()
        try socket.send("\(method) /tiles/\(path) HTTP/1.1\r\n\(fields)\r\n")
        return try socket.readResponse(method: method)
    }

    func testEveryMethodGetsTheDeploymentsCORSHeadersEvenA405() throws {
        for method in ["TRACE", "PROPFIND", "POST"] {
            let r = try get("omero/ome_seadragon/deepzoom/get/1.dzi", method: method)
            XCTAssertEqual(r.status, 405, method)
            XCTAssertEqual(r.field("access-control-allow-origin"), Self.viewer, method)
            XCTAssertEqual(r.field("allow"), "GET, HEAD", method)
        }
    }

    func testAProxyLoopIs508() throws {
        let r = try get("omero/ome_seadragon/deepzoom/get/1_files/0/0_0.jpeg", ["Via": "1.1 edge, 1.1 corsd"])
        XCTAssertEqual(r.status, 508)
        XCTAssertEqual(r.field("access-control-allow-origin"), Self.viewer)
        XCTAssertEqual(upstream.count("/ome_seadragon/deepzoom/get/1_files/0/0_0.jpeg"), 0)
    }

    func testAHostThatIsNotAnAuthorityIs400() throws {
        let r = try get("omero/ome_seadragon/deepzoom/get/1_files/0/0_0.jpeg", ["Host": "tiles.example.org:99999"])
        XCTAssertEqual(r.status, 400)
    }

    /// OMERO.web sends no validators or freshness: nothing is cached until the operator sets a
    /// TTL; then tiles are served from the cache, a purge drops them, and so does a new upstream.
    func testOperatorTTLCachesSilentTilesUntilPurgedOrTheUpstreamChanges() throws {
        let path = "/ome_seadragon/deepzoom/get/1_files/0/0_0.jpeg"
        XCTAssertEqual(try get("omero" + path).field("x-cache"), "MISS")
        XCTAssertEqual(try get("omero" + path).field("x-cache"), "MISS", "no TTL: a silent upstream is never cached")
        try deploy("omero", #""cors":{"allowed_origins":["\#(Self.viewer)"]},"cache":{"tiles_ttl_s":600}"#)
        XCTAssertEqual(try get("omero" + path).field("x-cache"), "MISS")
        let hit = try get("omero" + path)
        XCTAssertEqual(hit.field("x-cache"), "HIT")
        XCTAssertEqual(hit.text, "silent-tile")
        XCTAssertEqual(hit.field("access-control-allow-origin"), Self.viewer)
        XCTAssertEqual(upstream.count(path), 3)

        let other = try api.call("DELETE", "/api/v1/deployments/omero/cache?image=2")
        XCTAssertEqual(other.json["purged"] as? Int, 0)
        let purged = try api.call("DELETE", "/api/v1/deployments/omero/cache?image=1")
        XCTAssertEqual(purged.json["purged"] as? Int, 1)
        XCTAssertEqual(try get("omero" + path).field("x-cache"), "MISS")
        XCTAssertEqual(try get("omero" + path).field("x-cache"), "HIT")

        let second = try Upstream()
        defer { second.server.stop() }
        try deploy("omero", #""cors":{"allowed_origins":["\#(Self.viewer)"]},"cache":{"tiles_ttl_s":600}"#, port: second.server.port)
        XCTAssertEqual(try get("omero" + path).field("x-cache"), "MISS", "a new upstream starts with nothing cached")
        XCTAssertEqual(second.count(path), 1)
        XCTAssertEqual(try api.call("DELETE", "/api/v1/deployments/nope/cache").status, 404)
        XCTAssertEqual(try api.call("DELETE", "/api/v1/deployments/omero/cache?image=%zz").status, 400)
    }

    func testAResponseIsStoredUnderTheRequestFieldsItVariesOn() throws {
        let path = "/ome_seadragon/deepzoom/get/2_files/0/0_0.jpeg"
        XCTAssertEqual(try get("omero" + path, ["Accept-Language": "fr"]).text, "lang:fr")
        let de = try get("omero" + path, ["Accept-Language": "de"])
        XCTAssertEqual(de.text, "lang:other")
        XCTAssertEqual(de.field("x-cache"), "MISS")
        XCTAssertEqual(de.field("vary"), "Accept-Language, Origin")
        XCTAssertEqual(try get("omero" + path, ["Accept-Language": "de"]).field("x-cache"), "HIT")
        XCTAssertEqual(upstream.count(path), 2)
    }

    func testARevalidating304NeverBringsASetCookieIntoTheCache() throws {
        let path = "/ome_seadragon/deepzoom/get/3_files/0/0_0.jpeg"
        XCTAssertEqual(try get("omero" + path).field("x-cache"), "MISS")
        let again = try get("omero" + path)
        XCTAssertEqual(again.field("x-cache"), "REVALIDATED")
        XCTAssertEqual(again.text, "validated")
        XCTAssertNil(again.field("set-cookie"))
        XCTAssertEqual(try get("omero" + path).field("set-cookie"), nil)
        XCTAssertTrue(upstream.head(path).contains("If-None-Match: \"v1\""))
    }
}

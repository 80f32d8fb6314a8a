import Foundation
import TestSupport
import XCTest

/// Tokens as an operator handles them: the real server and the real `corsd token` commands on
/// one database file, as two processes.
final class TokenLifecycleTests: XCTestCase {
    static let admin = "integration-admin-secret"

    private func token(_ db: String, _ name: String, _ scope: String = "read") throws -> String {
        let created = try CorsdProcess.run(["token", "create", "--db", db, "--name", name, "--scope", scope])
        XCTAssertEqual(created.status, 0, created.stderr)
        return created.stdout.trimmingCharacters(in: .newlines)
    }

    private func id(_ db: String, _ name: String) throws -> String {
        let list = try CorsdProcess.run(["token", "list", "--db", db])
        return try XCTUnwrap(list.stdout.split(separator: "\n").first { $0.split(separator: "\t").dropFirst().first == Substring(name) }?
            .split(separator: "\t").first.map(String.init))
    }

    func testATokenCreatedOrRevokedFromTheCLIIsHonouredByTheRunningServerAtOnce() throws {
        let corsd = try CorsdProcess(environment: ["CORSD_ADMIN_TOKEN": Self.admin], debugRoutes: false)
        defer { corsd.stop() }
        let api = APIClient(port: corsd.port, token: nil)
        let secret = try token(corsd.databasePath, "ansible")
        XCTAssertEqual(try api.call("GET", "/api/v1/deployments", token: secret).status, 200, "created from the shell: accepted on the next request")
        XCTAssertEqual(try CorsdProcess.run(["token", "revoke", "--db", corsd.databasePath, try id(corsd.databasePath, "ansible")]).status, 0)
        let refused = try api.call("GET", "/api/v1/deployments", token: secret)
        XCTAssertEqual(refused.status, 401, "revoked from the shell: refused on the next request")
        XCTAssertTrue(refused.text.contains("revoked"), refused.text)
    }

    func testLastUseIsWrittenInABatchAndListedByTheCLI() throws {
        let corsd = try CorsdProcess(environment: ["CORSD_ADMIN_TOKEN": Self.admin], debugRoutes: false)
        let secret = try token(corsd.databasePath, "dashboard")
        XCTAssertEqual(try APIClient(port: corsd.port, token: secret).call("GET", "/api/v1/deployments").status, 200)
        XCTAssertEqual(corsd.stop(), 0)
        let list = try CorsdProcess.run(["token", "list", "--db", corsd.databasePath, "--json"])
        let tokens = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]], list.stdout)
        let used = try XCTUnwrap(tokens.first { $0["name"] as? String == "dashboard" })
        XCTAssertNotNil(used["last_used_at"] as? String, "written at shutdown: \(used)")
        XCTAssertNil(tokens.first { $0["name"] as? String == "bootstrap" }?["last_used_at"], "the unused bootstrap token stays never-used")
    }

    func testTheBootstrapSecretIsShownOnlyOnceTheListenerIsBound() throws {
        let holder = try CorsdProcess(environment: ["CORSD_ADMIN_TOKEN": Self.admin], debugRoutes: false)
        defer { holder.stop() }
        let db = CorsdProcess.temporaryDirectory() + "/fresh.sqlite"
        let busy = try CorsdProcess.run(["serve", "--db", db, "--listen", "127.0.0.1:\(holder.port)"])
        XCTAssertNotEqual(busy.status, 0)
        XCTAssertNil(busy.stderr.firstMatch(of: /corsd_[0-9a-f]{64}/), "a start that cannot bind shows no secret: \(busy.stderr)")
        let started = try CorsdProcess(databasePath: db, debugRoutes: false)
        defer { started.stop() }
        let secret = try XCTUnwrap(started.waitForStderr(/corsd_[0-9a-f]{64}/), "the failed start used nothing up")
        XCTAssertEqual(try APIClient(port: started.port, token: secret).call("GET", "/api/v1/tokens").status, 200)
    }

    func testTheAdminSecretCanComeFromAFile() throws {
        let dir = CorsdProcess.temporaryDirectory()
        try "from-a-file-secret\n".write(toFile: dir + "/admin", atomically: true, encoding: .utf8)
        let corsd = try CorsdProcess(environment: ["CORSD_ADMIN_TOKEN_FILE": dir + "/admin"], debugRoutes: false)
        defer { corsd.stop() }
        XCTAssertEqual(try APIClient(port: corsd.port, token: "from-a-file-secret").call("GET", "/api/v1/tokens").status, 200)
        XCTAssertFalse(corsd.stderr.contains("from-a-file-secret"))
        let both = try CorsdProcess.run(["serve", "--db", dir + "/x.sqlite", "--listen", "127.0.0.1:0"],
                                        environment: ["CORSD_ADMIN_TOKEN": "a", "CORSD_ADMIN_TOKEN_FILE": dir + "/admin"])
        XCTAssertEqual(both.status, 1)
        XCTAssertTrue(both.stderr.contains("not both"), both.stderr)
    }
}

import CorsdBase
import CorsdModel
import Foundation
import HTTPCore
import HTTPRouting
import HTTPTypes
import PolicyStore
import Rendering

/// `/deployments/{name}/hosts`: what each host reports after installing the renders, whether it
/// is in sync, and `/hosts?stale=`: hosts not heard from lately.
struct HostRoutes: Sendable {
    let store: PolicyStore
    let hosts: HostStore

    enum Keys: String, CodingKey, CaseIterable { case applied, revision, result, error, version }

    func install(on routes: inout APIRoutes) {
        routes.add(.put, "/deployments/{name}/hosts/{host}", .reportHost) { request, context, _ in try await report(request, context) }
        routes.add(.get, "/deployments/{name}/hosts", .readDeployment) { _, context, _ in
            let name = try context.deploymentName()
            let current = Current(try await store.require(name))
            return try .json(Listing(hosts: try await hosts.hosts(of: name).map { View($0, current: current) }))
        }
        routes.add(.get, "/hosts", .read) { request, _, _ in try await stale(request) }
    }

    /// What a host can have applied, by the name it reports: each render format's ETag, and
    /// `policy` (what an edge enforces) with the deployment's own ETag.
    struct Current {
        var etags: [String: String]

        init(_ stored: StoredDeployment) {
            etags = Dictionary(RenderSet(stored.deployment).entries.compactMap { e in e.etag.map { (e.format, $0) } }, uniquingKeysWith: { a, _ in a })
            etags["policy"] = DeploymentETag.of(revision: stored.revision)
        }
    }

    /// A report as served: with whether the host runs what is current.
    struct View: Encodable {
        var report: HostReport
        /// Everything the host applied is current, and its last cycle went well. nil when the
        /// deployment is gone.
        var inSync: Bool?

        init(_ report: HostReport, current: Current?) {
            self.report = report
            inSync = current.map { current in
                report.result == "ok" && !report.applied.isEmpty && report.applied.allSatisfy { current.etags[$0.key] == $0.value }
            }
        }

        enum CodingKeys: String, CodingKey {
            case deployment, host, revision, applied, result, error, version
            case lastSeen = "last_seen", inSync = "in_sync"
        }

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(report.deployment, forKey: .deployment)
            try c.encode(report.host, forKey: .host)
            try c.encode(report.lastSeen, forKey: .lastSeen)
            try c.encode(report.revision, forKey: .revision)
            try c.encode(report.applied, forKey: .applied)
            try c.encode(report.result, forKey: .result)
            try c.encode(report.error, forKey: .error)
            try c.encode(report.version, forKey: .version)
            try c.encode(inSync, forKey: .inSync)
        }
    }

    private struct Listing: Encodable { var hosts: [View] }

    static func isValidHostName(_ name: String) -> Bool { name.wholeMatch(of: /[A-Za-z0-9][A-Za-z0-9._-]{0,252}/) != nil }

    func report(_ request: HTTPServerRequest, _ context: RequestContext) async throws -> Response {
        let name = try context.deploymentName()
        let host = try context.parameters.require("host")
        guard Self.isValidHostName(host) else { throw Problem.field("host", .hostName, "must be 1–253 letters, digits, '.', '_' or '-', starting with a letter or digit") }
        var body = try InputObject<Keys>(try request.json())
        let applied = try body.stringMap(.applied, required: true, maxCount: 64) ?? [:]
        let revision = try body.integer(.revision)
        let result = try body.string(.result, required: true) ?? ""
        guard result == "ok" || result == "error" else { throw Problem.field("result", .enum, "must be ok or error") }
        let error = try body.string(.error, nullable: false)
        let version = try body.string(.version, nullable: false)
        for (field, text) in [("error", error), ("version", version)] where (text?.unicodeScalars.count ?? 0) > 2000 {
            throw Problem.field(field, .maxLength, "must be at most 2000 characters")
        }
        let stored = try await hosts.report(HostReport(deployment: name, host: host, lastSeen: "", revision: revision, applied: applied,
                                                       result: result, error: error, version: version))
        return try .json(View(stored, current: try await store.get(name).map(Current.init)))
    }

    /// `?stale=10m`: hosts whose last report is older than that (default 10 minutes).
    func stale(_ request: HTTPServerRequest) async throws -> Response {
        let query = QueryString(request.query)
        try query.allowOnly(["stale"])
        let text = try query.get("stale") ?? "10m"
        guard let seconds = DurationText.seconds(text, max: 366 * 86400) else {
            throw Problem.field("stale", .range, "must be a duration such as 90s, 10m, 2h or 7d")
        }
        let reports = try await hosts.stale(before: Date().addingTimeInterval(-Double(seconds)))
        var currents: [String: Current?] = [:]
        var views: [View] = []
        for report in reports {
            if currents[report.deployment] == nil { currents[report.deployment] = try await store.get(report.deployment).map(Current.init) }
            views.append(View(report, current: currents[report.deployment] ?? nil))
        }
        return try .json(Listing(hosts: views))
    }
}

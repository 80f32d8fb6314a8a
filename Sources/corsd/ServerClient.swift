import ArgumentParser
import CorsdModel
import Foundation
import HTTPCore
import HTTPTypes
import ManagementAPI

/// `--server` and its token, for commands that talk to a running corsd.
struct ServerOptions: ParsableArguments {
    @Option(help: "corsd's base URL, e.g. https://corsd.internal:8443 or http://127.0.0.1:8080.")
    var server: String?

    @Option(help: "PEM CA certificates to verify an https:// --server with (default: the system trust store).")
    var serverCa: String?

    @Option(help: "File holding the API token (default: the CORSD_TOKEN environment variable).")
    var tokenFile: String?

    func client() throws -> ServerClient? {
        guard let server else { return nil }
        return try ServerClient(server: server, token: {
            if let tokenFile { return try ServerClient.readToken(tokenFile) }
            if let env = ProcessInfo.processInfo.environment["CORSD_TOKEN"], !env.isEmpty { return env }
            throw CLIError("no token: pass --token-file or set CORSD_TOKEN")
        }, caFile: serverCa)
    }
}

/// The management API over corsd's own HTTP client (no curl, no Foundation networking).
struct ServerClient: Sendable {
    /// A token from a file (its first line, trimmed): `--token-file`, an agent's or an edge's.
    static func readToken(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("cannot read the token file \(path)") }
        let token = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard !token.isEmpty else { throw CLIError("the token file \(path) is empty") }
        return token
    }

    let url: UpstreamURL
    let token: String
    private let endpoint: UpstreamEndpoint
    private let client = HTTPClient(maxConnectionsPerEndpoint: 2)

    /// `server`: an http:// or https:// base URL; `caFile`: PEM CAs for https (default: the
    /// system trust store).
    init(server: String, token: () throws -> String, caFile: String?) throws {
        guard case .success(let url) = UpstreamURL.parse(server) else {
            throw CLIError("--server: '\(server)' is not an http:// or https:// URL such as https://corsd.internal:8443")
        }
        self.url = url
        endpoint = try Self.endpoint(url, caFile: caFile)
        self.token = try token()
    }

    /// Where `url` lives; for https, verified against the PEM CAs in `caFile` or the system store.
    static func endpoint(_ url: UpstreamURL, caFile: String?) throws -> UpstreamEndpoint {
        guard url.scheme == "https" else {
            if caFile != nil { throw CLIError("--server-ca is for https:// servers; \(url.serialized) is plain http") }
            return UpstreamEndpoint(host: url.host, port: url.port)
        }
        do {
            if let caFile {
                guard let data = FileManager.default.contents(atPath: caFile) else { throw CLIError("cannot read \(caFile)") }
                return UpstreamEndpoint(host: url.host, port: url.port, tls: try TLSClientContext(caBundlePEM: String(decoding: data, as: UTF8.self)))
            }
            return UpstreamEndpoint(host: url.host, port: url.port, tls: try TLSClientContext.system())
        } catch {
            throw CLIError("--server-ca: \(error)")
        }
    }

    struct Reply {
        var status: Int
        var fields: HTTPFields
        var body: [UInt8]
        var json: JSONValue? { try? JSONValue.parse(body).get() }

        /// The problem's detail and errors, for messages.
        var problemText: String {
            guard case .object(let o)? = json else { return String(decoding: body.prefix(500), as: UTF8.self) }
            var text = "\(status)"
            if case .string(let detail)? = o["detail"] { text += " \(detail)" }
            return text
        }
    }

    func send(_ method: HTTPRequest.Method, _ path: String, json body: String? = nil, fields extra: HTTPFields = [:],
              timeouts: HTTPClientTimeouts = HTTPClientTimeouts(connect: 5, header: 30, total: 60)) async throws -> Reply {
        var fields = extra
        fields[.authorization] = "Bearer \(token)"
        fields[.hostField] = url.host.contains(":") ? "[\(url.host)]:\(url.port)" : "\(url.host):\(url.port)"
        if body != nil { fields[.contentType] = "application/json" }
        let request = HTTPClientRequest(endpoint: endpoint, method: method,
                                        target: url.pathPrefix + ManagementAPI.prefix + path, headerFields: fields,
                                        body: Array((body ?? "").utf8), timeouts: timeouts)
        do {
            let response = try await client.execute(request)
            return Reply(status: response.status.code, fields: response.head.response.headerFields, body: response.body)
        } catch {
            throw CLIError("\(method.rawValue) \(url.serialized)\(path): \(error)")
        }
    }

    /// Every deployment document on the server.
    func deployments() async throws -> [Deployment] {
        let reply = try await send(.get, "/deployments")
        guard reply.status == 200, case .object(let o)? = reply.json, case .array(let items)? = o["deployments"] else {
            throw CLIError("listing deployments failed: \(reply.problemText)")
        }
        return try items.map { item in
            switch DeploymentValidator.validate(item) {
            case .success(let v): return v.deployment
            case .failure(let f): throw CLIError("the server sent an invalid deployment: \(f)")
            }
        }
    }
}

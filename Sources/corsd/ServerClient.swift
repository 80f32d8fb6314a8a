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

    @OptionGroup var serverTLS: ServerTLSOptions

    @Option(help: "File holding the API token (default: the CORSD_TOKEN environment variable).")
    var tokenFile: String?

    func client() throws -> ServerClient? {
        guard let server else { return nil }
        return try ServerClient(server: server, token: {
            if let tokenFile { return try ServerClient.readToken(tokenFile) }
            if let env = ProcessInfo.processInfo.environment["CORSD_TOKEN"], !env.isEmpty { return env }
            throw CLIError("no token: pass --token-file or set CORSD_TOKEN")
        }, tls: serverTLS.settings)
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

    /// `server`: an http:// or https:// base URL; `tls`: how an https one is verified and
    /// whether a client certificate is presented.
    init(server: String, token: () throws -> String, tls: ServerTLS) throws {
        guard case .success(let url) = UpstreamURL.parse(server) else {
            throw CLIError("--server: '\(server)' is not an http:// or https:// URL such as https://corsd.internal:8443")
        }
        self.url = url
        endpoint = try tls.endpoint(url)
        self.token = try token()
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

/// `--server-ca`, `--client-cert`, `--client-key`: for every command that talks to a corsd.
struct ServerTLSOptions: ParsableArguments {
    @Option(help: "PEM CA certificates to verify an https:// server with (default: the system trust store).")
    var serverCa: String?

    @Option(help: "PEM client certificate (chain) to present to a server that requires one (mTLS); with --client-key.")
    var clientCert: String?

    @Option(help: "The PEM private key of --client-cert.")
    var clientKey: String?

    var settings: ServerTLS { ServerTLS(caFile: serverCa, clientCertificate: clientCert, clientKey: clientKey) }
}

/// How corsd's client meets an https:// corsd: the CAs that verify it (default: the system
/// trust store) and an optional client certificate for a centre that requires one (mTLS).
struct ServerTLS {
    var caFile: String?
    var clientCertificate: String?
    var clientKey: String?
    /// The option `caFile` came from, for messages.
    var caOption = "--server-ca"
    /// `caFile` is the server's own certificate: its leaf alone is trusted and no name is
    /// checked (`TLSClientContext(pinningLeaf:)`, for a probe by address).
    var pinsLeaf = false

    /// Where `url` lives; for https, with the context these settings make.
    func endpoint(_ url: UpstreamURL) throws -> UpstreamEndpoint {
        if (clientCertificate == nil) != (clientKey == nil) { throw CLIError("--client-cert and --client-key go together") }
        guard url.scheme == "https" else {
            if caFile != nil || clientCertificate != nil {
                throw CLIError("\(caFile != nil ? caOption : "--client-cert") is for https:// servers; \(url.serialized) is plain http")
            }
            return UpstreamEndpoint(host: url.host, port: url.port)
        }
        var pem: String?
        if let caFile {
            guard let data = FileManager.default.contents(atPath: caFile) else { throw CLIError("\(caOption): cannot read \(caFile)") }
            pem = String(decoding: data, as: UTF8.self)
        }
        do {
            let context = try pinsLeaf ? TLSClientContext(pinningLeaf: pem ?? "")
                : pem == nil && clientCertificate == nil ? TLSClientContext.system()
                : TLSClientContext(caBundlePEM: pem, clientCertificate: clientCertificate.flatMap { c in clientKey.map { (c, $0) } })
            return UpstreamEndpoint(host: url.host, port: url.port, tls: context)
        } catch {
            throw CLIError("TLS to \(url.serialized): \(error)")
        }
    }
}

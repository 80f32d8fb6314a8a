import ArgumentParser
import CorsdModel
import Foundation
import HTTPCore
import HTTPTypes

/// Probes a running corsd's `/readyz` with corsd's own client: Docker's HEALTHCHECK and
/// systemd or cron checks need neither curl nor a shell.
struct Healthcheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Exit 0 if a running corsd is ready (GET /readyz answers 200), 1 otherwise.")

    @Option(help: """
        URL to probe (default: http://ADDRESS/readyz, ADDRESS from CORSD_LISTEN or 127.0.0.1:8080, \
        a wildcard host probing loopback; https://ADDRESS/readyz when CORSD_TLS_CERT is set, the \
        server then having to present exactly that certificate, whatever names it carries).
        """)
    var url: String?

    @Option(help: "PEM CA certificates to verify an https:// --url with (default: the system trust store).")
    var ca: String?

    @Option(help: "Seconds to wait for the answer.")
    var timeout = 5.0

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        // The server's own certificate, when its environment serves TLS (a container's HEALTHCHECK).
        let servedCertificate = url == nil && ca == nil ? environment["CORSD_TLS_CERT"].flatMap { $0.isEmpty ? nil : $0 } : nil
        let text = url ?? Self.defaultURL(listen: environment["CORSD_LISTEN"], tls: servedCertificate != nil)
        guard case .success(let target) = UpstreamURL.parse(text) else {
            throw CLIError("--url: '\(text)' is not an http:// or https:// URL")
        }
        let trust = servedCertificate.map { ServerTLS(caFile: $0, caOption: "CORSD_TLS_CERT", pinsLeaf: true) } ?? ServerTLS(caFile: ca, caOption: "--ca")
        let endpoint = try trust.endpoint(target)
        var fields = HTTPFields()
        fields[.hostField] = target.host.contains(":") ? "[\(target.host)]:\(target.port)" : "\(target.host):\(target.port)"
        let request = HTTPClientRequest(endpoint: endpoint, method: .get,
                                        target: target.pathPrefix.isEmpty ? "/readyz" : target.pathPrefix, headerFields: fields,
                                        timeouts: HTTPClientTimeouts(connect: timeout, header: timeout, total: timeout))
        do {
            let response = try await HTTPClient(maxConnectionsPerEndpoint: 1).execute(request)
            guard response.status == .ok else {
                throw CLIError("\(text): \(response.status.code) \(String(decoding: response.body.prefix(300), as: UTF8.self))")
            }
        } catch let error as CLIError {
            throw error
        } catch {
            throw CLIError("\(text): \(error)")
        }
    }

    static func defaultURL(listen: String?, tls: Bool = false) -> String {
        var address = (listen?.isEmpty == false ? listen : nil) ?? "127.0.0.1:8080"
        if address.hasPrefix(":") { address = "127.0.0.1" + address }
        if address.hasPrefix("0.0.0.0:") { address = "127.0.0.1" + address.dropFirst(7) }
        if address.hasPrefix("[::]:") { address = "[::1]" + address.dropFirst(4) }
        return (tls ? "https://" : "http://") + "\(address)/readyz"
    }
}

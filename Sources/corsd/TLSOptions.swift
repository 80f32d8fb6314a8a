import ArgumentParser
import Dispatch
import Foundation
import HTTPCore
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// `--tls-cert`, `--tls-key` and `--tls-client-ca`: HTTPS on the listener, for `serve` and `edge`.
struct TLSOptions: ParsableArguments {
    @Option(help: "Serve HTTPS with this PEM certificate chain (leaf first, then intermediates). Re-read on SIGHUP.")
    var tlsCert: String?

    @Option(help: "The PEM private key of --tls-cert. Re-read on SIGHUP.")
    var tlsKey: String?

    @Option(help: "PEM CA certificates for client certificates (mTLS): the management API then requires a client certificate they verify, and records its subject with the audit actor. Tiles and health checks do not ask for one.")
    var tlsClientCa: String?

    func validate() throws {
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        if tlsClientCa != nil && tlsCert == nil { throw ValidationError("--tls-client-ca needs --tls-cert and --tls-key (client certificates are a TLS feature)") }
    }

    /// The server context, or nil for plain HTTP; a certificate or key OpenSSL refuses is an
    /// error now, naming the option.
    func context() throws -> TLSServerContext? {
        guard let tlsCert, let tlsKey else { return nil }
        do { return try TLSServerContext(certificatePath: tlsCert, keyPath: tlsKey, clientCAPath: tlsClientCa) } catch {
            throw CLIError(error.description)
        }
    }
}

/// Logs the certificate's expiry and installs SIGHUP: it re-reads the certificate, key and
/// client CA; new connections get them, open ones keep theirs. A file that does not load leaves
/// the running certificate in place. Without TLS, SIGHUP is logged and ignored (never the
/// default action, which would end the process).
func installTLSReload(_ context: TLSServerContext?, logger: Logger) -> any DispatchSourceProtocol {
    if let context { logExpiry(context, logger: logger) }
    signal(SIGHUP, SIG_IGN)
    let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: DispatchQueue(label: "corsd.tls-reload"))
    source.setEventHandler {
        guard let context else {
            logger.notice("SIGHUP: nothing to reload (no --tls-cert); policy changes apply live without one")
            return
        }
        do {
            try context.reload()
            logger.notice("TLS certificate reloaded", metadata: ["cert": "\(context.certificatePath)", "key": "\(context.keyPath)"])
            logExpiry(context, logger: logger)
        } catch {
            logger.error("TLS certificate reload failed; still serving the previous one", metadata: ["error": "\(error)"])
        }
    }
    source.resume()
    return source
}

/// The served certificate's expiry: info, or a warning within 14 days (and an error once past).
func logExpiry(_ context: TLSServerContext, logger: Logger) {
    let notAfter = context.certificateNotAfter
    guard notAfter > 0 else { return }
    let days = (notAfter - Date().timeIntervalSince1970) / 86400
    let metadata: Logger.Metadata = ["cert": "\(context.certificatePath)", "not_after": "\(Date(timeIntervalSince1970: notAfter))",
                                     "days_left": "\(Int(days.rounded(.down)))"]
    if days < 0 {
        logger.error("the TLS certificate has expired; clients will refuse it", metadata: metadata)
    } else if days < 14 {
        logger.warning("the TLS certificate expires soon", metadata: metadata)
    } else {
        logger.info("TLS certificate", metadata: metadata)
    }
}

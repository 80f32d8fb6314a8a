import Dispatch
import Foundation
import Logging
import Observability

#if canImport(Glibc)
import Glibc
#endif

/// swift-log for `serve` and `edge`: swift-log's stream handler (`text`) or one JSON object
/// per line (`json`), on stderr.
func bootstrapLogging(format: LogFormat, level: Logger.Level) {
    LoggingSystem.bootstrap { label in
        switch format {
        case .text:
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        case .json:
            var handler = JSONLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

/// SIGTERM and SIGINT start a graceful shutdown: `drain` is given a completion to call once
/// the servers are drained; the process then exits 0 unless `drain` ends it itself. Returns
/// the sources, which must be kept alive.
func installShutdownSignals(logger: Logger, drain: @escaping @Sendable (_ done: @escaping @Sendable () -> Void) -> Void) -> [any DispatchSourceProtocol] {
    let queue = DispatchQueue(label: "corsd.signals")
    var sources: [any DispatchSourceProtocol] = []
    for sig in [SIGTERM, SIGINT] {
        signal(sig, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
        source.setEventHandler {
            logger.info("signal received, draining", metadata: ["signal": "\(sig)"])
            drain {
                logger.info("stopped")
                Glibc.exit(0)
            }
        }
        source.resume()
        sources.append(source)
    }
    return sources
}

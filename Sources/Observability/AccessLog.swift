import Dispatch
import Foundation
import HTTPCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The access log: one JSON object per line per exchange (`--access-log PATH`, `-` for
/// stdout). Lines are buffered and written by a background queue, at most a second late and
/// at once past 64 KiB; `flush()` at shutdown writes the rest.
public final class AccessLog: Sendable {
    private let handle: FileHandle
    private let buffer = Mutex<[UInt8]>([])
    private let queue = DispatchQueue(label: "corsd.access-log")
    nonisolated(unsafe) private let timer: any DispatchSourceTimer
    private static let flushBytes = 64 * 1024

    public init(path: String) throws {
        if path == "-" {
            handle = .standardOutput
        } else {
            // O_APPEND: every write lands at the current end, also after logrotate's copytruncate.
            let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
            guard fd >= 0 else { throw AccessLogError("cannot open \(path) for appending: \(String(cString: strerror(errno)))") }
            handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        }
        timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + 1, repeating: 1)
        timer.setEventHandler { [weak self] in self?.writeOut() }
        timer.resume()
    }

    deinit { timer.cancel() }

    public func record(_ exchange: ExchangeRecord) {
        var line = Self.line(exchange, at: Date())
        line.append(UInt8(ascii: "\n"))
        let full = buffer.withLock { b -> Bool in
            b.append(contentsOf: line)
            return b.count >= Self.flushBytes
        }
        if full { queue.async { [self] in writeOut() } }
    }

    /// Writes everything buffered, now (shutdown).
    public func flush() { queue.sync { writeOut() } }

    private func writeOut() {
        let bytes = buffer.withLock { b -> [UInt8] in
            defer { b.removeAll(keepingCapacity: true) }
            return b
        }
        if !bytes.isEmpty { try? handle.write(contentsOf: Data(bytes)) }  // a closed or full log must not end the server
    }

    /// The fields of one line: never the path or query (they may carry session ids), never a
    /// header but Origin.
    static func line(_ e: ExchangeRecord, at time: Date) -> [UInt8] {
        var object: [String: Any] = [
            "time": LogTime.format(time),
            "method": e.method?.rawValue ?? "-",
            "route": CorsdMetrics.routeLabel(e),
            "status": e.status,
            "bytes": e.bodyBytes,
            "duration_s": (e.durationSeconds * 1e6).rounded() / 1e6,
            "completed": e.completed,
        ]
        if let client = e.remote?.host { object["client"] = client }
        if let v = e.notes.deployment { object["deployment"] = v }
        if let v = e.notes.origin { object["origin"] = v }
        if let v = e.notes.corsRule { object["cors_rule"] = v }
        if let v = e.notes.cache { object["cache"] = v }
        return JSONLine.encode(object)
    }
}

public struct AccessLogError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// One JSON object on one line: sorted keys, slashes as they are.
enum JSONLine {
    static func encode(_ object: [String: Any]) -> [UInt8] {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            return Array(#"{"error":"unencodable log line"}"#.utf8)
        }
        return Array(data)
    }
}

/// RFC 3339 UTC with milliseconds, as in the API.
enum LogTime {
    static func format(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: true).timeSeparator(.colon).timeZone(separator: .omitted))
    }
}

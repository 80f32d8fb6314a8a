import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The real `corsd` binary, started on an ephemeral loopback port with its own database.
public final class CorsdProcess: @unchecked Sendable {
    public let process = Process()
    public private(set) var port = 0
    public let databasePath: String
    private let lock = NSLock()
    private var stderrText = ""
    private let stderrPipe = Pipe()
    private let stdoutPipe = Pipe()

    /// The built binary: `CORSD_BINARY`, or next to the test bundle.
    public static var binaryURL: URL {
        if let path = ProcessInfo.processInfo.environment["CORSD_BINARY"] { return URL(fileURLWithPath: path) }
        var dir = Bundle.main.bundleURL
        for _ in 0..<3 {
            let candidate = dir.appendingPathComponent("corsd")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: ".build/debug/corsd")
    }

    /// A fresh temporary directory for one test's files.
    public static func temporaryDirectory() -> String {
        let path = NSTemporaryDirectory() + "corsd-test-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Starts `corsd serve` and waits until it listens. `databasePath` nil means a new file.
    /// - Parameter openFileLimit: runs corsd under `ulimit -n` of this (soft and hard).
    public init(arguments: [String] = [], databasePath: String? = nil, environment: [String: String] = [:], debugRoutes: Bool = true,
                openFileLimit: Int? = nil) throws {
        self.databasePath = databasePath ?? (Self.temporaryDirectory() + "/corsd.sqlite")
        let serve = ["serve", "--listen", "127.0.0.1:0", "--db", self.databasePath] + (debugRoutes ? ["--enable-debug-routes"] : []) + arguments
        if let openFileLimit {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "ulimit -n \(openFileLimit) && exec \"$0\" \"$@\"", Self.binaryURL.path] + serve
        } else {
            process.executableURL = Self.binaryURL
            process.arguments = serve
        }
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        process.environment = env
        process.standardError = stderrPipe
        process.standardOutput = stdoutPipe
        let listening = DispatchSemaphore(value: 0)
        stderrPipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            let text = String(decoding: data, as: UTF8.self)
            let found: Bool = self.lock.withLock {
                let before = self.port
                self.stderrText += text
                if before == 0, let range = self.stderrText.range(of: #"listening on [^\s"]+:(\d+)"#, options: .regularExpression) {
                    let match = self.stderrText[range]
                    self.port = Int(match[match.index(after: match.lastIndex(of: ":")!)...]) ?? 0
                    return true
                }
                return false
            }
            if found { listening.signal() }
        }
        try process.run()
        if listening.wait(timeout: .now() + 60) == .timedOut {
            process.terminate()
            throw CorsdProcessError.didNotStart(stderr)
        }
    }

    public var pid: Int32 { process.processIdentifier }

    /// Waits until stderr has a match for `regex` (or the process exits, or `timeout` passes)
    /// and returns the first match.
    public func waitForStderr(_ regex: some RegexComponent, timeout: Double = 30) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let text = stderr
            if let match = text.firstMatch(of: regex) { return String(text[match.range]) }
            if !process.isRunning { return nil }
            usleep(5_000)
        }
        return nil
    }

    /// Everything the process wrote to stderr so far.
    public var stderr: String { lock.withLock { stderrText } }

    /// Sends `signal` and waits for the exit; returns the exit status.
    @discardableResult
    public func stop(signal: Int32 = SIGTERM, timeout: Double = 30) -> Int32 {
        if process.isRunning { kill(process.processIdentifier, signal) }
        return waitForExit(timeout: timeout)
    }

    @discardableResult
    public func waitForExit(timeout: Double = 30) -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        stderrPipe.fileHandleForReading.readabilityHandler = nil
    }

    /// Runs a corsd subcommand to completion (e.g. `migrate`, `token list`).
    public static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = binaryURL
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }
}

extension CorsdProcess {
    /// Runs a /bin/sh command; returns its exit status.
    public static func runShell(_ command: String) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}

public enum CorsdProcessError: Error {
    case didNotStart(String)
}

import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Puts a file in place the way confd does: staged beside the destination with its final
/// mode and owner, flushed to disk, checked, renamed over the destination, and the directory
/// flushed; on any failure the destination is untouched and the staged file removed.
struct FileInstaller {
    var mode: mode_t = 0o644
    var owner: uid_t?
    var group: gid_t?
    /// A command run on the staged file before it replaces the destination (`{}` is its path,
    /// shell-quoted); non-zero exit refuses the file.
    var check: String?
    /// Keep the replaced file as `DEST.corsd-prev`.
    var backup = false

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Installs `bytes` at `path`.
    func install(_ bytes: [UInt8], at path: String) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        var template = Array("\(dir)/.\(url.lastPathComponent).corsd-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { buffer in buffer.baseAddress.map { mkstemp($0) } ?? -1 }
        guard fd >= 0 else { throw Failure(description: "cannot create a file in \(dir): \(String(cString: strerror(Glibc.errno)))") }
        let staged = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var keep = false
        defer { if !keep { unlink(staged) } }
        do {
            defer { close(fd) }
            try Self.writeAll(fd, bytes, path: staged)
            guard fchmod(fd, mode) == 0 else { throw Self.failure("chmod \(staged)") }
            if owner != nil || group != nil {
                guard fchown(fd, owner ?? uid_t.max, group ?? gid_t.max) == 0 else { throw Self.failure("chown \(staged)") }
            }
            guard fsync(fd) == 0 else { throw Self.failure("fsync \(staged)") }
        }
        if let check { try Self.run(check: check, on: staged) }
        if backup && access(path, F_OK) == 0 {
            let previous = path + ".corsd-prev"
            unlink(previous)
            guard link(path, previous) == 0 else { throw Self.failure("keep \(path) as \(previous)") }
        }
        guard rename(staged, path) == 0 else { throw Self.failure("rename \(staged) to \(path)") }
        keep = true
        let dfd = open(dir, O_RDONLY | O_DIRECTORY)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if Glibc.errno == EINTR { continue }
                throw Self.failure("write \(path)")
            }
            offset += n
        }
    }

    static func failure(_ what: String) -> Failure { Failure(description: "\(what): \(String(cString: strerror(Glibc.errno)))") }

    /// Runs `command` through /bin/sh with `{}` replaced by the quoted `path`.
    static func run(check command: String, on path: String) throws {
        let quoted = "'" + path.replacingOccurrences(of: "'", with: "'\\''") + "'"
        let result = try Shell.run(command.replacingOccurrences(of: "{}", with: quoted))
        guard result.status == 0 else {
            throw Failure(description: "check `\(command)` refused the file (exit \(result.status)): \(result.output.suffix(500))")
        }
    }
}

/// A shell command and what it said.
enum Shell {
    static func run(_ command: String) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

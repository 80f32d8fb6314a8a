import Foundation

/// Runs `python3 -c program` with `stdin` and returns its standard output. python3 is on every
/// machine of this kind; a missing one (or a failing program) fails the calling test.
public func runPython(_ program: String, stdin: Data) throws -> Data {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", program]
    let input = Pipe(), output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    try process.run()
    input.fileHandleForWriting.write(stdin)
    try input.fileHandleForWriting.close()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw NSError(domain: "python3", code: Int(process.terminationStatus)) }
    return data
}

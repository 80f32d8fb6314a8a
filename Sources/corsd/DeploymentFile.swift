import CorsdModel
import Foundation

/// Deployment documents in files: what `corsd export` writes and `corsd apply` and
/// `corsd render --input` read. A file holds one deployment object or an array of them; a
/// directory holds `*.json` files.
enum DeploymentFile {
    /// Pretty JSON with sorted keys and a final newline: stable bytes, readable diffs in git.
    static func text(_ deployment: Deployment) throws -> String {
        try JSONValue(encoding: deployment).prettyText()
    }

    /// The one deployment in `path`, validated.
    static func read(_ path: String) throws -> Deployment {
        let all = try readAll(path)
        guard all.count == 1, let only = all.first else { throw CLIError("\(path) holds \(all.count) deployments; expected one") }
        return only
    }

    /// Every deployment in a file or a directory of `*.json` files, validated, names unique.
    static func readAll(_ path: String) throws -> [Deployment] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw CLIError("\(path) does not exist") }
        let files: [String]
        if isDirectory.boolValue {
            files = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".json") }.sorted().map { "\(path)/\($0)" }
        } else {
            files = [path]
        }
        var deployments: [Deployment] = []
        var seen: [String: String] = [:]
        for file in files {
            for d in try parse(file) {
                if let other = seen[d.name] { throw CLIError("deployment '\(d.name)' is in both \(other) and \(file)") }
                seen[d.name] = file
                deployments.append(d)
            }
        }
        return deployments
    }

    private static func parse(_ file: String) throws -> [Deployment] {
        guard let data = FileManager.default.contents(atPath: file) else { throw CLIError("\(file) is not a readable file") }
        let json: JSONValue
        switch JSONValue.parse(Array(data)) {
        case .success(let value): json = value
        case .failure(let error): throw CLIError("\(file) is not acceptable JSON: \(error) [\(error.rule.rawValue)]")
        }
        let items: [(String, JSONValue)]
        if case .array(let array) = json { items = array.enumerated().map { ("\(file)[\($0.offset)]", $0.element) } } else { items = [(file, json)] }
        return try items.map { label, item in
            switch DeploymentValidator.validate(item) {
            case .success(let v): return v.deployment
            case .failure(let f): throw CLIError("\(label) is not a valid deployment:\n" + f.issues.map { "  \($0)" }.joined(separator: "\n"))
            }
        }
    }
}

/// Writes next to the target, syncs, then renames over it: readers see the old file or the
/// new one, never half of one.
func writeAtomically(_ text: String, to path: String) throws {
    do { try FileInstaller().install(Array(text.utf8), at: path) } catch { throw CLIError("cannot write \(path): \(error)") }
}

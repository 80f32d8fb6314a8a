import ArgumentParser
import CorsdModel
import Foundation
import PolicyStore
import Rendering

struct Render: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Render a deployment's file: settings.py, omero-web-config.sh, limits.conf or systemd/<unit>.",
        usage: """
            corsd render <deployment> <format> [--db PATH] [--out FILE] [--dialect D]
            corsd render <format> --input deployment.json [--out FILE]
            """,
        discussion: "With --input, the deployment comes from a JSON file (validated, revision 0) instead of the database: a preview before storing it.")

    @Argument(help: "<deployment> <format>, or just <format> with --input.")
    var arguments: [String]

    @OptionGroup var database: DatabaseOptions

    @Option(help: "Write to FILE atomically (a temporary file renamed into place) instead of stdout.")
    var out: String?

    @Option(help: "Override the settings dialect derived from django.cors_headers_version: legacy, scheme or modern.")
    var dialect: String?

    @Option(help: "Render the deployment in this JSON file instead of one from the database.")
    var input: String?

    func run() throws {
        let expected = input == nil ? 2 : 1
        guard arguments.count == expected else {
            throw ValidationError(input == nil ? "expected <deployment> <format>" : "with --input, expected just <format>")
        }
        guard let format = RenderFormat(arguments.last!) else {
            throw ValidationError("unknown format '\(arguments.last!)'; formats: \(RenderFormat.names.joined(separator: ", "))")
        }
        var chosenDialect: SettingsDialect?
        if let dialect {
            guard let d = SettingsDialect(rawValue: dialect) else { throw ValidationError("--dialect must be one of legacy, scheme, modern") }
            chosenDialect = d
        }
        let renderInput: RenderInput
        if let input {
            guard let data = FileManager.default.contents(atPath: input) else { throw CLIError("\(input) is not a readable file") }
            let json: JSONValue
            switch JSONValue.parse(Array(data)) {
            case .success(let value): json = value
            case .failure(let error): throw CLIError("\(input) is not acceptable JSON: \(error) [\(error.rule.rawValue)]")
            }
            switch DeploymentValidator.validate(json) {
            case .success(let v): renderInput = RenderInput(deployment: v.deployment, revision: 0)
            case .failure(let f): throw CLIError("\(input) is not a valid deployment:\n" + f.issues.map { "  \($0)" }.joined(separator: "\n"))
            }
        } else {
            let store = PolicyStore(pool: try database.open().0)
            guard let stored = try store.current(arguments[0]) else {
                throw CLIError("no deployment named '\(arguments[0])' in \(database.db)")
            }
            renderInput = RenderInput(deployment: stored.deployment, revision: stored.revision)
        }
        let rendered: Rendered
        do { rendered = try format.render(renderInput, dialect: chosenDialect) } catch { throw CLIError("cannot render: \(error)") }
        if let out {
            try writeAtomically(rendered.text, to: out)
        } else {
            FileHandle.standardOutput.write(Data(rendered.text.utf8))
        }
    }

    /// Writes next to the target, syncs, then renames over it: readers see the old file or the
    /// new one, never half of one.
    private func writeAtomically(_ text: String, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let temp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).corsd-\(getpid())")
        guard FileManager.default.createFile(atPath: temp.path, contents: Data(text.utf8)) else {
            throw CLIError("cannot write \(temp.path)")
        }
        let handle = try FileHandle(forWritingTo: temp)
        try handle.synchronize()
        try handle.close()
        guard rename(temp.path, path) == 0 else {
            let error = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temp)
            throw CLIError("cannot move the rendered file into \(path): \(error)")
        }
    }
}

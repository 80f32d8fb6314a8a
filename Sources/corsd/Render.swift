import ArgumentParser
import CorsdModel
import Foundation
import PolicyStore
import Rendering

struct Render: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Render a deployment's file: settings.py, omero-web-config.sh, limits.conf or systemd/<unit>.",
        usage: """
            corsd render <deployment> <format> [--db PATH] [--out FILE] [--dialect D]
            corsd render <format> --input deployment.json [--out FILE]
            """,
        discussion: "With --input, the deployment comes from a JSON file (validated; the same document GET /api/v1/deployments/{name} returns and corsd export writes) instead of the database: a preview before storing it.")

    @Argument(help: "<deployment> <format>, or just <format> with --input.")
    var arguments: [String]

    @OptionGroup var database: DatabaseOptions

    @Option(help: "Write to FILE atomically (a temporary file renamed into place) instead of stdout.")
    var out: String?

    @Option(help: "Override the settings dialect derived from django.cors_headers_version.")
    var dialect: SettingsDialect?

    @Option(help: "Render the deployment in this JSON file instead of one from the database.")
    var input: String?

    func run() async throws {
        let expected = input == nil ? 2 : 1
        guard arguments.count == expected else {
            throw ValidationError(input == nil ? "expected <deployment> <format>" : "with --input, expected just <format>")
        }
        guard let format = RenderFormat(arguments.last!) else {
            throw ValidationError("unknown format '\(arguments.last!)'; formats: \(RenderFormat.names.joined(separator: ", "))")
        }
        let renderInput: RenderInput
        if let input {
            guard FileManager.default.isReadableFile(atPath: input) else { throw CLIError("\(input) is not a readable file") }
            renderInput = RenderInput(deployment: try DeploymentFile.read(input))
        } else {
            guard let stored = try await database.open().policies().get(arguments[0]) else {
                throw CLIError("no deployment named '\(arguments[0])' in \(database.db)")
            }
            renderInput = RenderInput(deployment: stored.deployment)
        }
        let rendered: Rendered
        do { rendered = try format.render(renderInput, dialect: dialect) } catch { throw CLIError("cannot render: \(error)") }
        if let out {
            try writeAtomically(rendered.text, to: out)
        } else {
            FileHandle.standardOutput.write(Data(rendered.text.utf8))
        }
    }
}

extension SettingsDialect: ExpressibleByArgument {}

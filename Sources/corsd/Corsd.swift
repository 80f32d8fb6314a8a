import ArgumentParser
import Foundation

@main
struct Corsd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corsd",
        abstract: "Central CORS and open-file-limit policy store for OMERO.web hosts.",
        version: CorsdVersion.current,
        subcommands: [Serve.self, Agent.self, Edge.self, Migrate.self, Token.self, Backup.self, Healthcheck.self, Render.self, Export.self, Apply.self],
        defaultSubcommand: nil
    )

    /// As ArgumentParser's own entry point, except that `serve` first gathers its options from
    /// the environment and the config file (see `ServeConfiguration`).
    static func main() async {
        var arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "serve" {
            do {
                arguments = ["serve"] + (try ServeConfiguration.arguments(commandLine: Array(arguments.dropFirst()), environment: ProcessInfo.processInfo.environment))
            } catch {
                FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
                Foundation.exit(1)
            }
        }
        do {
            var command = try parseAsRoot(arguments)
            if var command = command as? AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

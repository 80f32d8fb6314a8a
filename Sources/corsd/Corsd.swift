import ArgumentParser

@main
struct Corsd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corsd",
        abstract: "Central CORS and open-file-limit policy store for OMERO.web hosts.",
        subcommands: [Serve.self, Migrate.self, Token.self, Backup.self, Render.self, Export.self, Apply.self],
        defaultSubcommand: nil
    )
}

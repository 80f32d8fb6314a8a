import ArgumentParser
import Foundation
import PolicyStore

/// `--db` for every command that touches the store.
struct DatabaseOptions: ParsableArguments {
    @Option(help: "SQLite database file.")
    var db = "./corsd.sqlite"

    /// Opens the database and applies pending migrations; failures end the command with a message.
    func open() throws -> AppDatabase {
        do {
            return try AppDatabase.open(path: db)
        } catch {
            throw CLIError("cannot open database \(db): \(error)")
        }
    }
}

/// A message for stderr and exit status 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending database migrations and exit.")
    @OptionGroup var database: DatabaseOptions

    func run() throws {
        let applied = try database.open().applied
        print(applied.isEmpty ? "database \(database.db) is up to date" : "applied: \(applied.joined(separator: ", "))")
    }
}

struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage API tokens directly in the database.",
        subcommands: [Create.self, List.self, Revoke.self])

    static let cliActor = Actor(tokenName: "cli", client: "local")

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a token and print its secret (shown once).")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "A unique name for the token.") var name: String
        @Option(help: "admin, read or agent:<deployment>.") var scope: String

        func run() async throws {
            let tokens = try await database.open().tokens()
            do {
                let (record, secret) = try await tokens.create(name: name, scope: scope, actor: Token.cliActor)
                print("created token \(record.id) '\(record.name)' (scope \(record.scope)); its secret, shown only now:")
                print(secret)
            } catch let error as TokenError {
                throw CLIError(error.description)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens (never their secrets).")
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let tokens = try await database.open().tokens()
            for t in tokens.list() { print("\(t.id)\t\(t.name)\t\(t.scope)\t\(t.createdAt)") }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token by id.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The token id (tok_…).") var id: String

        func run() async throws {
            let tokens = try await database.open().tokens()
            do { try await tokens.revoke(id: id, actor: Token.cliActor) } catch let error as TokenError { throw CLIError(error.description) }
            print("revoked \(id)")
        }
    }
}

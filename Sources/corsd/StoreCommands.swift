import ArgumentParser
import CorsdBase
import Foundation
import PolicyStore

/// `--db` for every command that touches the store.
struct DatabaseOptions: ParsableArguments {
    @Option(help: "SQLite database file (default: CORSD_DB, else ./corsd.sqlite).")
    var db = ProcessInfo.processInfo.environment["CORSD_DB"].flatMap { $0.isEmpty ? nil : $0 } ?? "./corsd.sqlite"

    /// Opens the database and applies pending migrations; failures end the command with a
    /// message. Only `serve` and `migrate` create a missing file: anything else run in the
    /// wrong directory says so instead of quietly starting an empty store.
    func open(create: Bool = false) throws -> AppDatabase {
        do {
            return try AppDatabase.open(path: db, create: create)
        } catch let error as AppDatabase.OpenError {
            throw CLIError(error.description)
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

/// Prose for a person, on stderr, so stdout carries only what a script captures.
func note(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create the database if needed, apply pending migrations and exit.")
    @OptionGroup var database: DatabaseOptions

    func run() throws {
        let applied = try database.open(create: true).applied
        print(applied.isEmpty ? "database \(database.db) is up to date" : "applied: \(applied.joined(separator: ", "))")
    }
}

struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy the database, consistently, while corsd runs (SQLite VACUUM INTO).",
        discussion: "The copy is a complete database: restore it by stopping corsd and putting the file in place of --db (see docs/operations.md).")
    @OptionGroup var database: DatabaseOptions
    @Argument(help: "The new file to write (must not exist).") var destination: String

    func run() async throws {
        let db = try database.open()
        do { try await db.backup(to: destination) } catch let error as AppDatabase.OpenError { throw CLIError(error.description) }
        note("backed up \(database.db) to \(destination)")
    }
}

struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage API tokens directly in the database (a running server sees changes at once).",
        subcommands: [Create.self, List.self, Revoke.self])

    static let cliActor = Actor(tokenName: "cli", client: "local")

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a token and print its secret (shown once).",
            discussion: "stdout carries the secret alone (or, with --json, the token and its secret as JSON), so `corsd token create … > file` captures just that.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "A unique name for the token.") var name: String
        @Option(help: "admin, read or agent:<deployment>.") var scope: String
        @Option(help: "Lifetime, e.g. 3600s, 90m, 12h, 30d, 2w (default: never expires).") var ttl: String?
        @Flag(help: "Print the token and its secret as one JSON object.") var json = false

        func validate() throws {
            if let ttl, TTL.seconds(ttl) == nil { throw ValidationError("--ttl: '\(ttl)' \(TTL.rule)") }
        }

        func run() async throws {
            let tokens = try database.open().tokens()
            let expiry = ttl.flatMap(TTL.seconds).map { Date().addingTimeInterval(Double($0)) }
            do {
                let (record, secret) = try await tokens.create(name: name, scope: scope, actor: Token.cliActor, expiresAt: expiry)
                if json {
                    struct Created: Encodable { var token: TokenInfo; var secret: String }
                    print(String(decoding: try JSONCoding.encoder().encode(Created(token: record, secret: secret)), as: UTF8.self))
                } else {
                    note("created token \(record.id) '\(record.name)' (scope \(record.scope)\(record.expiresAt.map { ", expires \($0)" } ?? "")); its secret, shown only now, is on stdout")
                    print(secret)
                }
            } catch let error as TokenError {
                throw CLIError(error.description)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens (never their secrets): id, name, scope, created, expires, last used.")
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print a JSON array.") var json = false

        func run() async throws {
            let tokens = try await database.open().tokens().list()
            if json {
                print(String(decoding: try JSONCoding.encoder().encode(tokens), as: UTF8.self))
                return
            }
            print(["ID", "NAME", "SCOPE", "CREATED", "EXPIRES", "LAST_USED"].joined(separator: "\t"))
            for t in tokens {
                print([t.id, t.name, "\(t.scope)", t.createdAt, t.expiresAt ?? "never", t.lastUsedAt ?? "never"].joined(separator: "\t"))
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token by id (refused by a running server from its next request).")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The token id (tok_…).") var id: String

        func run() async throws {
            let tokens = try database.open().tokens()
            do { try await tokens.revoke(id: id, actor: Token.cliActor) } catch let error as TokenError { throw CLIError(error.description) }
            note("revoked \(id)")
        }
    }
}

/// Token lifetimes as typed on the command line: a whole number and a unit, up to 100 years.
enum TTL {
    static let rule = "must be a whole number followed by s, m, h, d or w (e.g. 12h, 30d)"

    static func seconds(_ text: String) -> Int? {
        DurationText.seconds(text, max: 100 * 365 * 86400).flatMap { $0 > 0 ? $0 : nil }
    }
}

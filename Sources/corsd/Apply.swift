import ArgumentParser
import CorsdModel
import Foundation
import HTTPTypes
import PolicyStore

/// `corsd export`: every deployment as a JSON document, for git.
struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write every deployment as a JSON document (one file each with --dir).",
        discussion: "Reads a running corsd with --server (a read token is enough), else the database. The files are what corsd apply takes back.")

    @Option(help: "Write <name>.json files into this directory (created if needed) instead of a JSON array on stdout.")
    var dir: String?

    @OptionGroup var server: ServerOptions
    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let deployments: [Deployment]
        if let client = try server.client() {
            deployments = try await client.deployments()
        } else {
            deployments = try await database.open().policies().list().map(\.deployment)
        }
        guard let dir else {
            FileHandle.standardOutput.write(Data(try JSONValue(encoding: deployments).prettyText().utf8))
            return
        }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for d in deployments {
            try writeAtomically(try DeploymentFile.text(d), to: "\(dir)/\(d.name).json")
        }
        FileHandle.standardError.write(Data("exported \(deployments.count) deployment(s) to \(dir)\n".utf8))
    }
}

/// `corsd apply`: makes the server match the files (GitOps). Exit 0: nothing to change;
/// 2: changes applied (or, with --dry-run, pending); 1: error.
struct Apply: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a running corsd match deployment files: create or replace each (with If-Match), optionally delete the rest.",
        discussion: "Prints each deployment's diff. Exits 0 when nothing changed, 2 when changes were applied (or are pending, with --dry-run), 1 on error.")

    @Option(name: .short, help: "A deployment file (one object or an array) or a directory of *.json files.")
    var file: String

    @OptionGroup var server: ServerOptions

    @Flag(help: "Show what would change; change nothing.")
    var dryRun = false

    @Flag(help: "Delete deployments the files do not name.")
    var prune = false

    func run() async throws {
        guard let client = try server.client() else { throw CLIError("--server is required") }
        let wanted = try DeploymentFile.readAll(file)
        var changes = 0
        for d in wanted {
            let body = try DeploymentFile.text(d)
            let plan = try await client.send(.put, "/deployments/\(d.name)?dry_run=true", json: body)
            guard plan.status == 200, case .object(let report)? = plan.json else { throw CLIError("\(d.name): \(plan.problemText)") }
            guard report["changed"] == .bool(true) else { print("= \(d.name) unchanged"); continue }
            changes += 1
            let current: Int? = if case .number(let n)? = report["current_revision"] { Int(n) } else { nil }
            print("\(current == nil ? "+" : "~") \(d.name) \(current == nil ? "created" : "updated")\(dryRun ? " (dry run)" : "")")
            if case .string(let diff)? = report["document"] { print(diff, terminator: "") }
            if dryRun { continue }
            var fields = HTTPFields()
            if let current { fields[.ifMatch] = "\"\(current)\"" } else { fields[.ifNoneMatch] = "*" }
            let done = try await client.send(.put, "/deployments/\(d.name)", json: body, fields: fields)
            guard done.status == 200 || done.status == 201 else { throw CLIError("\(d.name): \(done.problemText)") }
        }
        if prune {
            let names = Set(wanted.map(\.name))
            for d in try await client.deployments() where !names.contains(d.name) {
                let plan = try await client.send(.delete, "/deployments/\(d.name)?dry_run=true")
                guard plan.status == 200, case .object(let report)? = plan.json, case .number(let current)? = report["current_revision"] else {
                    throw CLIError("\(d.name): \(plan.problemText)")
                }
                changes += 1
                print("- \(d.name) deleted\(dryRun ? " (dry run)" : "")")
                if case .string(let diff)? = report["document"] { print(diff, terminator: "") }
                if dryRun { continue }
                var fields = HTTPFields()
                fields[.ifMatch] = "\"\(Int(current))\""
                let done = try await client.send(.delete, "/deployments/\(d.name)", fields: fields)
                guard done.status == 204 else { throw CLIError("\(d.name): \(done.problemText)") }
            }
        }
        FileHandle.standardError.write(Data("\(changes) change(s)\(dryRun ? " pending" : " applied")\n".utf8))
        if changes > 0 { throw ExitCode(2) }
    }
}

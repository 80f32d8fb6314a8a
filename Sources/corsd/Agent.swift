import ArgumentParser
import CorsdBase
import CorsdModel
import Foundation
import HTTPCore
import HTTPTypes
import Rendering

#if canImport(Glibc)
import Glibc
#endif

/// `corsd agent`: installs a deployment's renders on this host the way confd does, and
/// reports back. See `AgentConfig` for the configuration.
struct Agent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Install a deployment's renders on this host (check, atomic write, reload) and report back.",
        discussion: """
            Watches the deployment with long-polls and applies each change; with --once, runs one cycle and \
            exits 0 (nothing changed), 2 (files changed and applied) or 1 (an error; the old files stay). \
            Configuration: --config FILE (JSON, see docs/agent.md) and/or the flags below (flags win).
            """)

    @Option(help: "JSON configuration file.") var config: String?
    @Option(help: "corsd's base URL, e.g. http://corsd.internal:8080.") var server: String?
    @Option(help: "File holding the agent token (scope agent:<deployment>).") var tokenFile: String?
    @OptionGroup var serverTLS: ServerTLSOptions
    @Option(help: "The deployment whose renders this host installs.") var deployment: String?
    @Option(help: "This host's name in reports (default: the machine's host name).") var host: String?
    @Option(name: .customLong("file"), help: "FORMAT=DEST: install the render FORMAT at DEST (mode 0644), in addition to the config file's.")
    var files: [String] = []
    @Option(help: "Command run once per cycle after changed files are in place.") var reload: String?
    @Option(help: "Long-poll wait per request, e.g. 60s.") var wait: String?
    @Flag(help: "Run one cycle and exit (0 unchanged, 2 changed, 1 error).") var once = false

    func run() async throws {
        var settings: AgentConfig
        do { settings = try config.map(AgentConfig.load) ?? AgentConfig() } catch { throw CLIError("\(config ?? ""): \(error)") }
        if let server { settings.server = server }
        if let tokenFile { settings.tokenFile = tokenFile }
        if let ca = serverTLS.serverCa { settings.serverCA = ca }
        if let cert = serverTLS.clientCert { settings.clientCert = cert }
        if let key = serverTLS.clientKey { settings.clientKey = key }
        if let deployment { settings.deployment = deployment }
        if let host { settings.host = host }
        if let reload { settings.reload = reload }
        if let wait { settings.wait = wait }
        for spec in files {
            guard let eq = spec.firstIndex(of: "="), !spec[..<eq].isEmpty, !spec[spec.index(after: eq)...].isEmpty else {
                throw ValidationError("--file: '\(spec)' is not FORMAT=DEST")
            }
            settings.files.append(.init(format: String(spec[..<eq]), dest: String(spec[spec.index(after: eq)...])))
        }
        let plan: AgentPlan
        do { plan = try AgentPlan(settings) } catch { throw CLIError("agent configuration: \(error)") }
        let runner = AgentRunner(plan: plan)
        if once {
            let outcome = await runner.cycle(ifNoneMatch: nil, wait: nil)
            runner.log(outcome)
            throw ExitCode(outcome.exitCode)
        }
        await runner.watch()
    }
}

/// The agent's configuration file (JSON, snake_case keys).
struct AgentConfig: Codable {
    struct File: Codable {
        var format: String
        var dest: String
        var mode: String?
        var owner: String?
        var group: String?
        var check: String?
        var backup: Bool?

        init(format: String, dest: String) {
            self.format = format
            self.dest = dest
        }
    }

    var server: String?
    var tokenFile: String?
    var serverCA: String?
    var clientCert: String?
    var clientKey: String?
    var deployment: String?
    var host: String?
    var reload: String?
    var wait: String?
    var files: [File] = []

    enum CodingKeys: String, CodingKey {
        case server, deployment, host, reload, wait, files
        case tokenFile = "token_file"
        case serverCA = "server_ca"
        case clientCert = "client_cert"
        case clientKey = "client_key"
    }

    init() {}

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        server = try c.decodeIfPresent(String.self, forKey: .server)
        tokenFile = try c.decodeIfPresent(String.self, forKey: .tokenFile)
        serverCA = try c.decodeIfPresent(String.self, forKey: .serverCA)
        clientCert = try c.decodeIfPresent(String.self, forKey: .clientCert)
        clientKey = try c.decodeIfPresent(String.self, forKey: .clientKey)
        deployment = try c.decodeIfPresent(String.self, forKey: .deployment)
        host = try c.decodeIfPresent(String.self, forKey: .host)
        reload = try c.decodeIfPresent(String.self, forKey: .reload)
        wait = try c.decodeIfPresent(String.self, forKey: .wait)
        files = try c.decodeIfPresent([File].self, forKey: .files) ?? []
    }

    static func load(_ path: String) throws -> AgentConfig {
        guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("cannot read the file") }
        // Unknown keys are refused (a typo must not silently drop a setting).
        guard case .success(.object(let top)) = JSONValue.parse(Array(data)) else { throw CLIError("not a JSON object") }
        let known = Set(["server", "token_file", "server_ca", "client_cert", "client_key", "deployment", "host", "reload", "wait", "files"])
        if let unknown = top.keys.sorted().first(where: { !known.contains($0) }) { throw CLIError("unknown key '\(unknown)' (keys: \(known.sorted().joined(separator: ", ")))") }
        if case .array(let items)? = top["files"] {
            let fileKeys = Set(["format", "dest", "mode", "owner", "group", "check", "backup"])
            for (i, item) in items.enumerated() {
                guard case .object(let o) = item else { throw CLIError("files[\(i)] is not an object") }
                if let unknown = o.keys.sorted().first(where: { !fileKeys.contains($0) }) { throw CLIError("files[\(i)]: unknown key '\(unknown)' (keys: \(fileKeys.sorted().joined(separator: ", ")))") }
            }
        }
        do { return try JSONDecoder().decode(AgentConfig.self, from: data) } catch { throw CLIError("\(error)") }
    }
}

/// A validated configuration: every value checked before the first request.
struct AgentPlan {
    struct File {
        var format: String
        var dest: String
        var installer: FileInstaller
    }

    var client: ServerClient
    var deployment: String
    var host: String
    var reload: String?
    var waitSeconds: Int
    var files: [File]

    init(_ c: AgentConfig) throws {
        guard let server = c.server else { throw CLIError("no server (--server or \"server\")") }
        guard let tokenFile = c.tokenFile else { throw CLIError("no token file (--token-file or \"token_file\")") }
        guard let deployment = c.deployment, DeploymentValidator.isValidName(deployment) else { throw CLIError("no valid deployment (--deployment or \"deployment\")") }
        guard !c.files.isEmpty else { throw CLIError("no files to install (--file FORMAT=DEST or \"files\")") }
        client = try ServerClient(server: server, token: { try ServerClient.readToken(tokenFile) }, tls: ServerTLS(caFile: c.serverCA, clientCertificate: c.clientCert, clientKey: c.clientKey))
        self.deployment = deployment
        host = c.host ?? Self.machineHostName()
        reload = c.reload
        guard let wait = DurationText.seconds(c.wait ?? "60s", bareSeconds: true, max: 300), wait > 0 else { throw CLIError("wait '\(c.wait ?? "")' must be 1 to 300 seconds") }
        waitSeconds = wait
        var seen = Set<String>()
        files = try c.files.enumerated().map { i, f in
            guard RenderFormat(f.format) != nil else { throw CLIError("files[\(i)]: unknown format '\(f.format)' (formats: \(RenderFormat.names.joined(separator: ", ")))") }
            guard f.dest.hasPrefix("/") || f.dest.hasPrefix(".") else { throw CLIError("files[\(i)]: dest '\(f.dest)' must be a path") }
            guard seen.insert(f.dest).inserted else { throw CLIError("files[\(i)]: \(f.dest) is named twice") }
            var installer = FileInstaller(check: f.check, backup: f.backup ?? false)
            if let mode = f.mode {
                guard let m = mode_t(mode, radix: 8), m <= 0o7777 else { throw CLIError("files[\(i)]: mode '\(mode)' is not octal such as 0644") }
                installer.mode = m
            }
            if let owner = f.owner {
                guard let pw = getpwnam(owner) else { throw CLIError("files[\(i)]: no user '\(owner)'") }
                installer.owner = pw.pointee.pw_uid
            }
            if let group = f.group {
                guard let gr = getgrnam(group) else { throw CLIError("files[\(i)]: no group '\(group)'") }
                installer.group = gr.pointee.gr_gid
            }
            return File(format: f.format, dest: f.dest, installer: installer)
        }
    }

    static func machineHostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(cString: buffer)
    }
}

/// One cycle's result.
struct AgentOutcome {
    enum Kind { case unchanged, changed, failed, notModified }
    var kind: Kind
    var setETag: String?
    var changedFiles: [String] = []
    var errors: [String] = []

    var exitCode: Int32 {
        switch kind {
        case .unchanged, .notModified: return 0
        case .changed: return 2
        case .failed: return 1
        }
    }
}

struct AgentRunner {
    let plan: AgentPlan

    func log(_ outcome: AgentOutcome) {
        switch outcome.kind {
        case .unchanged, .notModified: note("corsd agent: \(plan.deployment): up to date")
        case .changed: note("corsd agent: \(plan.deployment): applied \(outcome.changedFiles.joined(separator: ", "))")
        case .failed: note("corsd agent: \(plan.deployment): " + outcome.errors.joined(separator: "; "))
        }
    }

    /// Long-polls forever; unreachable server or failed cycles back off with jitter (1 s
    /// doubling to 60 s), keeping the files as they are.
    func watch() async -> Never {
        var etag: String?
        var backoff = 1.0
        while true {
            let outcome = await cycle(ifNoneMatch: etag, wait: etag == nil ? nil : plan.waitSeconds)
            if outcome.kind != .notModified { log(outcome) }
            if outcome.kind == .failed {
                etag = nil
                let delay = backoff * Double.random(in: 0.5...1.0)
                backoff = min(backoff * 2, 60)
                try? await Task.sleep(for: .seconds(delay))
            } else {
                etag = outcome.setETag
                backoff = 1
            }
        }
    }

    /// Lists the renders (long-polling when `ifNoneMatch` and `wait` are given), installs the
    /// files whose render differs from what is on disk, reloads once if any changed, reports.
    func cycle(ifNoneMatch: String?, wait: Int?) async -> AgentOutcome {
        let listing: ServerClient.Reply
        do {
            var fields = HTTPFields()
            fields[.ifNoneMatch] = ifNoneMatch
            let path = "/deployments/\(plan.deployment)/renders" + (wait.map { "?wait=\($0)s" } ?? "")
            let timeout = Double(wait ?? 0) + 30
            listing = try await plan.client.send(.get, path, fields: fields, timeouts: HTTPClientTimeouts(connect: 5, header: timeout, total: timeout + 30))
        } catch {
            return AgentOutcome(kind: .failed, errors: ["\(error)"])
        }
        if listing.status == 304 { return AgentOutcome(kind: .notModified, setETag: ifNoneMatch) }
        guard listing.status == 200, case .object(let body)? = listing.json, case .array(let renders)? = body["renders"] else {
            return AgentOutcome(kind: .failed, errors: ["listing the renders: \(listing.problemText)"])
        }
        let setETag = listing.fields[.eTag]
        var revision: Int?
        if case .number(let n)? = body["revision"] { revision = Int(exactly: n) }
        var current: [String: String] = [:]
        for case .object(let entry) in renders {
            if case .string(let format)? = entry["format"], case .string(let etag)? = entry["etag"] { current[format] = etag }
        }

        var outcome = AgentOutcome(kind: .unchanged, setETag: setETag)
        var applied: [String: String] = [:]
        for file in plan.files {
            guard let wanted = current[file.format] else {
                outcome.errors.append("\(file.dest): the deployment has no render \(file.format)")
                continue
            }
            if Self.etag(ofFileAt: file.dest) == wanted {
                applied[file.format] = wanted  // unchanged: not touched
                continue
            }
            do {
                let bytes = try await download(file.format, expecting: wanted)
                try file.installer.install(bytes, at: file.dest)
                applied[file.format] = wanted
                outcome.changedFiles.append(file.dest)
            } catch {
                outcome.errors.append("\(file.dest): \(error)")
                if let old = Self.etag(ofFileAt: file.dest) { applied[file.format] = old }
            }
        }
        if !outcome.changedFiles.isEmpty, let reload = plan.reload {
            do {
                let result = try Shell.run(reload)
                if result.status != 0 { outcome.errors.append("reload `\(reload)` failed (exit \(result.status)): \(result.output.suffix(500))") }
            } catch {
                outcome.errors.append("reload `\(reload)`: \(error)")
            }
        }
        outcome.kind = !outcome.errors.isEmpty ? .failed : outcome.changedFiles.isEmpty ? .unchanged : .changed
        await report(applied: applied, revision: revision, outcome: &outcome)
        return outcome
    }

    /// Downloads a render and checks its bytes against the ETag the listing gave: a body cut
    /// short, or a render that changed meanwhile, is refused (the next cycle tries again).
    func download(_ format: String, expecting etag: String) async throws -> [UInt8] {
        let reply = try await plan.client.send(.get, "/deployments/\(plan.deployment)/render/\(format)")
        guard reply.status == 200 else { throw CLIError("download: \(reply.problemText)") }
        let got = Rendered.etag(of: reply.body)
        guard got == etag, reply.fields[.eTag] == etag else {
            throw CLIError("download: the body's hash \(got) is not the render's ETag \(etag) (changed meanwhile, or cut short)")
        }
        return reply.body
    }

    func report(applied: [String: String], revision: Int?, outcome: inout AgentOutcome) async {
        var body: [String: Any] = ["applied": applied, "result": outcome.errors.isEmpty ? "ok" : "error", "version": CorsdVersion.current]
        if let revision { body["revision"] = revision }
        if !outcome.errors.isEmpty { body["error"] = String(outcome.errors.joined(separator: "; ").prefix(2000)) }
        guard let data = try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]) else { return }
        do {
            let reply = try await plan.client.send(.put, "/deployments/\(plan.deployment)/hosts/\(plan.host)", json: String(decoding: data, as: UTF8.self))
            if reply.status != 200 { note("corsd agent: reporting to the server: \(reply.problemText)") }
        } catch {
            note("corsd agent: reporting to the server: \(error)")
        }
    }

    /// The render ETag a file's bytes would have (nil if there is no readable file).
    static func etag(ofFileAt path: String) -> String? {
        FileManager.default.contents(atPath: path).map { Rendered.etag(of: Array($0)) }
    }
}

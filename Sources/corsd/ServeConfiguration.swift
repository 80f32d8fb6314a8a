import ArgumentParser
import CorsdModel
import Foundation

/// Where `serve`'s options come from: the command line, `CORSD_…` environment variables and
/// an optional JSON config file (`--config` or `CORSD_CONFIG`).
///
/// One mechanism, the argument parser itself: the file's options, then the environment's,
/// then the command line's are handed to it as one argument list, and it keeps the last value
/// of an option. So a flag beats the environment, which beats the file, which beats the
/// default, and every value meets the same parsing and validation whatever its source.
/// (apple/swift-configuration was considered: it reads keys from the same three sources, but
/// each of serve's options would then be declared twice — for it and for --help.)
enum ServeConfiguration {
    /// Environment variables of corsd that are not `serve` options.
    static let otherVariables: Set<String> = ["CORSD_ADMIN_TOKEN", "CORSD_ADMIN_TOKEN_FILE", "CORSD_TOKEN", "CORSD_CONFIG", "CORSD_BINARY"]

    struct Problem: Error, CustomStringConvertible {
        let description: String
    }

    /// An option of `serve`: its long name and whether it is a flag (takes no value).
    struct Option: Hashable {
        var name: String
        var isFlag: Bool
        var environmentName: String { "CORSD_" + name.uppercased().replacingOccurrences(of: "-", with: "_") }
    }

    /// `serve`'s options, read off the command's declaration (so none can be forgotten here).
    static let options: [Option] = {
        func walk(_ value: Any) -> [Option] {
            Mirror(reflecting: value).children.flatMap { child -> [Option] in
                guard let label = child.label, label.hasPrefix("_") else { return [] }
                let type = String(describing: Swift.type(of: child.value))
                if type == "OptionGroup<DatabaseOptions>" { return walk(DatabaseOptions()) }
                if type == "OptionGroup<TLSOptions>" { return walk(TLSOptions()) }
                guard type.hasPrefix("Option<") || type.hasPrefix("Flag<") else { return [] }
                return [Option(name: kebab(String(label.dropFirst())), isFlag: type.hasPrefix("Flag<"))]
            }
        }
        return walk(Serve())
    }()

    static func kebab(_ camel: String) -> String {
        camel.reduce(into: "") { out, c in
            if c.isUppercase { out += "-" + c.lowercased() } else { out.append(c) }
        }
    }

    /// The argument list `serve` parses.
    static func arguments(commandLine: [String], environment: [String: String]) throws -> [String] {
        let byName = Dictionary(uniqueKeysWithValues: options.map { ($0.name, $0) })
        let configPath = commandLineValue("--config", in: commandLine) ?? environment["CORSD_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        var merged: [String] = []
        if let configPath { merged += try fileArguments(configPath, byName) }
        merged += try environmentArguments(environment, byName)
        return merged + commandLine
    }

    static func environmentArguments(_ environment: [String: String], _ byName: [String: Option]) throws -> [String] {
        let byVariable = Dictionary(uniqueKeysWithValues: byName.values.map { ($0.environmentName, $0) })
        var arguments: [String] = []
        for (variable, value) in environment.sorted(by: { $0.key < $1.key }) where variable.hasPrefix("CORSD_") {
            guard let option = byVariable[variable], option.name != "config" else {
                if !otherVariables.contains(variable) {
                    FileHandle.standardError.write(Data("corsd: warning: ignoring \(variable): no serve option is called --\(kebab(variable.dropFirst(6).lowercased().replacingOccurrences(of: "_", with: "-")))\n".utf8))
                }
                continue
            }
            arguments += try values(option, value, source: variable)
        }
        return arguments
    }

    static func fileArguments(_ path: String, _ byName: [String: Option]) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { throw Problem(description: "config file \(path): cannot be read") }
        guard case .success(.object(let object)) = JSONValue.parse(Array(data)) else {
            throw Problem(description: "config file \(path): not a JSON object of option names and values")
        }
        var arguments: [String] = []
        for (key, value) in object.sorted(by: { $0.key < $1.key }) {
            guard let option = byName[key], key != "config" else {
                throw Problem(description: "config file \(path): unknown option '\(key)' (options are serve's long names without dashes: \(options.map(\.name).filter { $0 != "config" }.joined(separator: ", ")))")
            }
            let text: String
            switch value {
            case .string(let s): text = s
            case .bool(let b): text = b ? "true" : "false"
            case .number(let n): text = n == n.rounded() && abs(n) < 1e15 ? String(Int(n)) : String(n)
            default: throw Problem(description: "config file \(path): '\(key)' must be a string, number or boolean")
            }
            arguments += try values(option, text, source: "config file \(path): '\(key)'")
        }
        return arguments
    }

    /// `--name value`, or for a flag `--name` when true and nothing when false.
    static func values(_ option: Option, _ value: String, source: String) throws -> [String] {
        guard option.isFlag else { return ["--\(option.name)", value] }
        switch value.lowercased() {
        case "true", "1", "yes": return ["--\(option.name)"]
        case "false", "0", "no", "": return []
        default: throw Problem(description: "\(source): '\(value)' is not true or false")
        }
    }

    static func commandLineValue(_ name: String, in arguments: [String]) -> String? {
        for (i, argument) in arguments.enumerated() {
            if argument == name, i + 1 < arguments.count { return arguments[i + 1] }
            if argument.hasPrefix(name + "=") { return String(argument.dropFirst(name.count + 1)) }
        }
        return nil
    }
}

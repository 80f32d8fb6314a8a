import CORSPolicy

/// The OMERO.web base URL a deployment's tiles are fetched from: `http(s)://host[:port][/prefix]`.
public struct UpstreamURL: Sendable, Equatable {
    public var scheme: String
    /// Host as it goes on the wire (IPv6 without brackets).
    public var host: String
    public var port: Int
    /// Path prefix without a trailing slash ("" for none), e.g. `/omero`.
    public var pathPrefix: String

    public var serialized: String {
        let h = host.contains(":") ? "[\(host)]" : host
        let defaultPort = scheme == "https" ? 443 : 80
        return "\(scheme)://\(h)" + (port == defaultPort ? "" : ":\(port)") + pathPrefix
    }

    public static func parse(_ text: String) -> Result<UpstreamURL, InvalidValue> {
        guard let sep = text.firstRange(of: "://") else { return .failure(InvalidValue("must be an http:// or https:// URL such as http://omero-web.internal:4080")) }
        let scheme = text[..<sep.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else { return .failure(InvalidValue("the scheme must be http or https")) }
        let rest = text[sep.upperBound...]
        if rest.contains("?") || rest.contains("#") { return .failure(InvalidValue("must not have a query or fragment")) }
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var path = String(rest[authorityEnd...])
        if authority.contains("@") { return .failure(InvalidValue("must not contain credentials (user:password@)")) }
        let origin: Origin
        do { origin = try Origin(parsing: "\(scheme)://\(authority)", lenient: false) } catch {
            return .failure(InvalidValue("the host part \(error.description)"))
        }
        while path.hasSuffix("/") { path.removeLast() }
        let segmentChars = /[A-Za-z0-9._~!$&'()*+,;=:@%-]+/
        for segment in path.split(separator: "/", omittingEmptySubsequences: false).dropFirst() {
            if segment.isEmpty || segment == "." || segment == ".." || segment.wholeMatch(of: segmentChars) == nil {
                return .failure(InvalidValue("the path prefix must be plain segments such as /omero"))
            }
        }
        var host = origin.host
        if host.hasPrefix("[") { host = String(host.dropFirst().dropLast()) }
        return .success(UpstreamURL(scheme: scheme, host: host, port: origin.port ?? (scheme == "https" ? 443 : 80), pathPrefix: path))
    }
}

/// Why a value is invalid, in a sentence.
public struct InvalidValue: Error, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// limits.conf(5) domains: a user, `@group`, `*`, `<min_uid>:<max_uid>` or `@<min_gid>:<max_gid>`.
public enum LimitsDomain {
    public static let rule = "must be a user name, @group, *, a uid range min:max or a gid range @min:max"

    public static func isValid(_ domain: String) -> Bool {
        if domain == "*" { return true }
        var body = Substring(domain)
        if body.hasPrefix("@") { body = body.dropFirst() }
        if body.contains(":") {
            let parts = body.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, parts.allSatisfy({ $0.isEmpty || ($0.count <= 10 && $0.allSatisfy(\.isASCIIDigit)) }),
                  !(parts[0].isEmpty && parts[1].isEmpty)
            else { return false }
            if let lo = UInt64(parts[0]), let hi = UInt64(parts[1]), lo > hi { return false }
            return true
        }
        return body.wholeMatch(of: /[A-Za-z_][A-Za-z0-9._-]{0,31}\$?/) != nil
    }
}

/// systemd unit names (systemd.unit(5)) for the unit types that take `LimitNOFILE=`.
public enum SystemdUnitName {
    public static let rule = "must be a systemd unit name such as omero-web.service: letters, digits, ':', '-', '_', '.', '\\' and at most one '@', ending in .service, .socket, .mount or .swap, at most 255 characters"

    public static func isValid(_ name: String) -> Bool {
        guard name.count <= 255, name.filter({ $0 == "@" }).count <= 1 else { return false }
        return name.wholeMatch(of: /[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\-]*)?\.(service|socket|mount|swap)/) != nil
    }
}

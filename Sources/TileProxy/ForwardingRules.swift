import CorsdModel
import HTTPCore
import HTTPTypes

/// What corsd sends upstream, derived from the client's request (the "Director" of Go's
/// `httputil.ReverseProxy`): an allow-list of end-to-end fields, minus any the client's
/// `Connection` names; credentials only when the policy allows them; `X-Forwarded-*` and
/// `Via` from corsd's own knowledge, never copied from the client (except the chain of
/// `X-Forwarded-For` and `Via` it appends to).
enum ForwardingRules {
    /// End-to-end request fields passed upstream.
    static let forwarded: [HTTPField.Name] = [.accept, .acceptEncoding, .acceptLanguage, .ifNoneMatch, .ifModifiedSince, .userAgent, .range, .ifRange]
    /// Forwarded only when the deployment allows credentials.
    static let credentials: [HTTPField.Name] = [.cookie, .authorization]
    /// The fields whose values select a representation: part of the cache key.
    static let negotiation: [HTTPField.Name] = [.accept, .acceptEncoding, .acceptLanguage]
    /// corsd's name in `Via` (RFC 9110 §7.6.3 received-by).
    static let viaName = "corsd"

    /// Whether a `Via` entry already names this corsd: the request went round in a loop.
    static func isLoop(_ fields: HTTPFields) -> Bool {
        for value in fields[values: .via] {
            for entry in value.split(separator: ",") {
                // received-protocol RWS received-by [ RWS comment ]
                let parts = entry.trimmingOWS().split(whereSeparator: { $0 == " " || $0 == "\t" })
                if parts.count >= 2, parts[1].lowercased() == viaName { return true }
            }
        }
        return false
    }

    /// The upstream request's fields. `overTLS`: the client reached corsd over HTTPS, which
    /// `X-Forwarded-Proto` tells the upstream (Django's `SECURE_PROXY_SSL_HEADER` builds its
    /// absolute URLs and secure-cookie decisions from it).
    static func upstreamFields(client: HTTPFields, remote: String, overTLS: Bool, target: ProxyTarget) -> HTTPFields {
        let named = HTTPCore.connectionOptions(client)
        var fields = HTTPFields()
        let names = forwarded + (target.deployment.cors.allowCredentials ? credentials : [])
        for name in names where !named.contains(name.canonicalName) {
            for value in client[values: name] { fields.append(HTTPField(name: name, value: value)) }
        }
        let prior = client[values: .xForwardedFor].joined(separator: ", ")
        fields[.xForwardedFor] = prior.isEmpty ? remote : "\(prior), \(remote)"
        fields[.xForwardedProto] = overTLS ? "https" : "http"
        // The client's Host is whatever it typed; only the configured public host is asserted.
        if let host = target.deployment.publicHost { fields[.xForwardedHost] = host }
        let via = client[values: .via].joined(separator: ", ")
        fields[.via] = (via.isEmpty ? "" : via + ", ") + "1.1 " + viaName
        return fields
    }

    /// Whether a request may be answered from, and stored in, the shared cache.
    static func isCacheable(_ method: HTTPRequest.Method, _ upstream: HTTPFields) -> Bool {
        (method == .get || method == .head)
            && !upstream.contains { credentials.contains($0.name) || $0.name == .range || $0.name == .ifRange }
    }
}

extension HTTPField.Name {
    static let xForwardedFor = HTTPField.Name.literal("X-Forwarded-For")
    static let xForwardedProto = HTTPField.Name.literal("X-Forwarded-Proto")
    static let xForwardedHost = HTTPField.Name.literal("X-Forwarded-Host")
}

import HTTPCore
import HTTPTypes

/// What the shared tile cache may store and for how long (RFC 9111 for a shared cache, plus
/// the deployment's TTLs for what the upstream says nothing about). Pure decisions.
public enum CacheRules {
    /// What a 304 may update in a stored entry (RFC 9111 §4.3.4, validators and freshness).
    static let refreshedFields: [HTTPField.Name] = [.eTag, .lastModified, .cacheControl, .expires, .date, .age]

    /// Why a response is or is not stored.
    struct Decision: Equatable {
        /// Seconds it is fresh for from now (0: stored only to revalidate).
        var lifetime: Int
        /// The request fields (lower-cased) it varies on, `Origin` excluded (corsd's own).
        var vary: [String]
    }

    /// The freshness lifetime the upstream itself gives: s-maxage, max-age, else Expires − Date;
    /// nil when it says nothing. Less the response's Age; 0 with no-cache.
    static func upstreamLifetime(_ fields: HTTPFields) -> Int? {
        let cc = CacheControl(fields)
        var lifetime = cc.lifetime
        if lifetime == nil, let expires = fields[.expires] {
            // An invalid Expires means "already expired" (RFC 9111 §5.3).
            lifetime = 0
            if let e = CacheFields.httpDate(expires), let d = fields[.date].flatMap({ CacheFields.httpDate($0) }) {
                lifetime = min(max(0, e - d), CacheFields.maxDeltaSeconds)
            }
        }
        guard let lifetime else { return nil }
        if cc.noCache { return 0 }
        return max(0, lifetime - CacheFields.age(fields))
    }

    /// Seconds fresh for: the upstream's own lifetime, else `fallbackTTL` (the deployment's TTL
    /// for the route's kind), which never overrides no-cache (no-store and private are never
    /// stored at all).
    public static func lifetime(_ fields: HTTPFields, fallbackTTL: Int) -> Int {
        if let own = upstreamLifetime(fields) { return own }
        if CacheControl(fields).noCache { return 0 }
        return fallbackTTL
    }

    /// Whether (and how) a response to a cacheable GET may be stored. 200s are stored when they
    /// are fresh or can be revalidated; any other status only when the upstream explicitly gave
    /// it a freshness lifetime (errors are never cached by corsd's choice).
    static func decide(_ head: ResponseHead, fallbackTTL: Int) -> Decision? {
        let fields = head.response.headerFields
        let code = head.response.status.code
        guard code >= 200, code != 206, code != 304 else { return nil }
        if fields[.setCookie] != nil { return nil }
        let cc = CacheControl(fields)
        if cc.noStore || cc.isPrivate { return nil }
        let vary = CacheFields.vary(fields).filter { $0 != "origin" }
        if vary.contains("*") { return nil }
        let lifetime: Int
        if code == 200 {
            lifetime = Self.lifetime(fields, fallbackTTL: fallbackTTL)
            guard lifetime > 0 || CacheFields.etag(fields) != nil || fields[.lastModified] != nil else { return nil }
        } else {
            guard let own = upstreamLifetime(fields), own > 0 else { return nil }
            lifetime = own
        }
        return Decision(lifetime: lifetime, vary: vary)
    }
}

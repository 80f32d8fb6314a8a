#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// How many connections the process can afford before it could run out of descriptors.
///
/// libdispatch's Linux thread-pool monitor traps when it cannot open `/proc/<tid>/stat`
/// (EMFILE), so running out of fds crashes the process outright. corsd therefore raises its
/// soft limit to the hard one at start-up and caps client connections well below it, leaving
/// room for one upstream socket per client connection plus files, SQLite and libdispatch.
public struct FileDescriptorBudget: Sendable, Equatable {
    public var softLimit: Int
    public var hardLimit: Int
    /// Descriptors held back for SQLite, logs, the epoll and event fds, libdispatch's `/proc`
    /// reads, the listener and headroom for sockets being accepted and refused.
    public static let reserved = 64

    /// Raises the soft RLIMIT_NOFILE to the hard limit and returns both.
    public static func raiseSoftLimit() -> FileDescriptorBudget {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else {
            return FileDescriptorBudget(softLimit: 1024, hardLimit: 1024)
        }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return FileDescriptorBudget(softLimit: clampInt(limit.rlim_cur), hardLimit: clampInt(limit.rlim_max))
    }

    /// Client connections allowed: half of what is left after the reserve, so the other half
    /// stays for upstream connections of the tile proxy.
    public var connectionCap: Int { max(8, (softLimit - Self.reserved) / 2) }

    /// Descriptors for sockets, client and upstream alike: the limit less the reserve.
    public var socketLimit: Int { max(16, softLimit - Self.reserved) }

    /// The upstream share of the socket budget: what client connections (capped at `cap`)
    /// cannot use. Idle pooled upstream sockets count too, so they can never starve accept.
    public func upstreamShare(clientCap cap: Int) -> Int { max(8, socketLimit - cap) }

    private static func clampInt(_ v: rlim_t) -> Int { v > rlim_t(Int32.max) ? Int(Int32.max) : Int(v) }
}

/// A count of sockets against a limit: the upstream share of corsd's descriptor budget (the
/// server's share is its connection cap), so that together client and upstream sockets, busy
/// or idle in a pool, never exhaust RLIMIT_NOFILE (and libdispatch with it). A socket is
/// counted from before it is opened until it is closed.
public final class DescriptorBudget: Sendable {
    public let limit: Int
    private let used = Atomic<Int>(0)

    public init(limit: Int) { self.limit = max(1, limit) }

    /// Takes one descriptor; false when none is left.
    public func acquire() -> Bool {
        var current = used.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = used.compareExchange(expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }

    public func release() { used.subtract(1, ordering: .relaxed) }

    /// Descriptors counted now.
    public var inUse: Int { used.load(ordering: .relaxed) }
}

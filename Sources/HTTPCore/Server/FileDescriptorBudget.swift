#if canImport(Glibc)
import Glibc
#endif

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

    /// Client connections allowed: half of what is left after the reserve, because each may
    /// hold one upstream connection of the tile proxy.
    public var connectionCap: Int { max(8, (softLimit - Self.reserved) / 2) }

    private static func clampInt(_ v: rlim_t) -> Int { v > rlim_t(Int32.max) ? Int(Int32.max) : Int(v) }
}

import Dispatch
import Synchronization

/// Long-poll support: requests wait here for a deployment to change (Consul's blocking
/// queries). A waiter is a suspended task and a Dispatch timer, never a thread; `changed(_:)`
/// (the store's `onChange`) wakes every waiter of the deployment at once.
///
/// Each deployment has a generation, bumped on every change. A request reads the generation
/// *before* it reads the store and waits "after" it, so a change that lands in between wakes
/// it at once instead of being missed.
public final class DeploymentWatch: Sendable {
    private struct State {
        var generations: [String: UInt64] = [:]
        var waiters: [String: [UInt64: CheckedContinuation<Bool, Never>]] = [:]
        var nextID: UInt64 = 0
    }
    private let state = Mutex(State())

    public init() {}

    public func generation(of name: String) -> UInt64 { state.withLock { $0.generations[name] ?? 0 } }

    /// Wakes everything waiting on `name`.
    public func changed(_ name: String) {
        let woken = state.withLock { s -> [CheckedContinuation<Bool, Never>] in
            s.generations[name, default: 0] &+= 1
            return Array(s.waiters.removeValue(forKey: name)?.values ?? [:].values)
        }
        for continuation in woken { continuation.resume(returning: true) }
    }

    /// Returns true when `name` changed after `generation` (at once if it already has), false
    /// when `seconds` passed first.
    public func wait(for name: String, after generation: UInt64, seconds: Double) async -> Bool {
        await withCheckedContinuation { continuation in
            let id = state.withLock { s -> UInt64? in
                guard (s.generations[name] ?? 0) == generation else { return nil }
                s.nextID &+= 1
                s.waiters[name, default: [:]][s.nextID] = continuation
                return s.nextID
            }
            guard let id else { return continuation.resume(returning: true) }
            DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { [self] in
                let expired = state.withLock { s -> CheckedContinuation<Bool, Never>? in
                    let c = s.waiters[name]?.removeValue(forKey: id)
                    if s.waiters[name]?.isEmpty == true { s.waiters[name] = nil }
                    return c
                }
                expired?.resume(returning: false)
            }
        }
    }

    /// Requests waiting now (metrics, tests).
    public var waiting: Int { state.withLock { $0.waiters.values.reduce(0) { $0 + $1.count } } }
}

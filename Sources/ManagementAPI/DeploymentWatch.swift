import CorsdBase
import Dispatch
import HTTPRouting
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

    /// A conditional GET that may wait: `current(generation)` gives the representation's ETag
    /// and response as of that generation. If `ifNoneMatch` does not name it, or once it
    /// changes within `waitSeconds`, its response; otherwise, at the end of the wait, 304.
    /// A change that leaves the ETag as it was (an edit this representation does not show)
    /// keeps the request waiting. `If-None-Match: *` is answered at once: it matches every
    /// version, so nothing but the end of the wait could end it.
    func respond(_ name: String, ifNoneMatch: String?, waitSeconds: Int?,
                 current: (UInt64) async throws -> (etag: String, response: Response)) async throws -> Response {
        let holds = ifNoneMatch.map { $0.trimmingOWS() != "*" } ?? false
        let deadline = ContinuousClock.now + .seconds(holds ? waitSeconds ?? 0 : 0)
        while true {
            let generation = generation(of: name)
            let (etag, response) = try await current(generation)
            if !EntityTag.ifNoneMatch(ifNoneMatch, matches: etag) { return response }
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return .notModified(etag: etag) }
            let seconds = Double(left.components.seconds) + Double(left.components.attoseconds) / 1e18
            if await !wait(for: name, after: generation, seconds: seconds) { return .notModified(etag: etag) }
        }
    }

    /// `?wait=`: seconds (`60`), or with a unit (`60s`, `5m`), at most `maxWaitSeconds`.
    static func waitSeconds(_ query: QueryString) throws(Problem) -> Int? {
        guard let text = try query.get("wait") else { return nil }
        guard let seconds = DurationText.seconds(text, bareSeconds: true, max: maxWaitSeconds) else {
            throw Problem.field("wait", .range, "must be a duration of 0 to \(maxWaitSeconds) seconds, such as 60s or 5m")
        }
        return seconds
    }

    /// The longest `?wait=` (proxies and load balancers commonly cut idle requests at 5–10 min).
    static let maxWaitSeconds = 300

    /// Requests waiting now (metrics, tests).
    public var waiting: Int { state.withLock { $0.waiters.values.reduce(0) { $0 + $1.count } } }
}

import CCorsdShim
import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Something registered with the event loop: a socket whose readiness and deadline are
/// delivered on the handler's own serial queue.
///
/// Registrations are one-shot (EPOLLONESHOT): after an event is delivered nothing more
/// arrives for that fd until the handler calls `EventLoop.arm` again, so a handler never
/// sees two events at once and never races its own teardown.
public protocol EventHandler: AnyObject, Sendable {
    /// The serial queue every callback runs on. It should target a bounded queue.
    var queue: DispatchQueue { get }
    /// When the handler next wants `handleDeadline()`; `.none` when it has no deadline.
    var deadline: Deadline { get }
    func handleEvents(_ events: EventMask)
    func handleDeadline()
}

/// An epoll event mask.
public struct EventMask: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let readable = EventMask(rawValue: corsd_EPOLLIN)
    public static let writable = EventMask(rawValue: corsd_EPOLLOUT)
    /// The peer shut down its writing side (EPOLLRDHUP).
    public static let readHangup = EventMask(rawValue: corsd_EPOLLRDHUP)
    public static let hangup = EventMask(rawValue: corsd_EPOLLHUP)
    public static let error = EventMask(rawValue: corsd_EPOLLERR)

    /// The peer is gone or going: these are sticky, the caller must remember them.
    public var peerGone: Bool { !intersection([.readHangup, .hangup, .error]).isEmpty }
}

/// A monotonic deadline in nanoseconds, settable from the owner's queue and read by the
/// loop's timer scan. Zero means no deadline.
public final class Deadline: Sendable {
    private let nanos = Atomic<UInt64>(0)
    public init() {}

    public func set(after seconds: Double) {
        nanos.store(monotonicNanos() &+ UInt64(max(0, seconds) * 1e9), ordering: .relaxed)
    }
    public func set(atNanos deadline: UInt64) {
        nanos.store(max(1, deadline), ordering: .relaxed)
    }
    public func clear() { nanos.store(0, ordering: .relaxed) }
    public var isSet: Bool { nanos.load(ordering: .relaxed) != 0 }

    /// Clears and returns true if the deadline has passed.
    func takeIfExpired(now: UInt64) -> Bool {
        let d = nanos.load(ordering: .relaxed)
        guard d != 0, d <= now else { return false }
        return nanos.compareExchange(expected: d, desired: 0, ordering: .relaxed).exchanged
    }
}

/// CLOCK_MONOTONIC in nanoseconds: the clock of every deadline.
public func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// One epoll thread that does socket readiness and nothing else; the work happens on the
/// handlers' Dispatch queues (architecture doc: the design that measured best and survived
/// the abuse tests). Deadlines are checked by a coarse tick driven by the epoll_wait timeout.
public final class EventLoop: @unchecked Sendable {
    /// The process-wide loop, started on first use.
    public static let shared: EventLoop = {
        let loop = try! EventLoop()
        loop.start()
        return loop
    }()

    /// How often deadlines are checked while any is set; with none set (thousands of parked
    /// long-polls, idle keep-alives all have one), once a second: a deadline set meanwhile
    /// fires at most a second late, which every timeout here (seconds long) tolerates.
    public static let tickMilliseconds: Int32 = 100
    static let idleTickMilliseconds: Int32 = 1000

    private struct Registration {
        var generation: UInt32
        var handler: any EventHandler
    }

    private let epfd: Int32
    private let wakeFD: Int32
    private let registrations = Mutex<(table: [Int32: Registration], nextGeneration: UInt32)>(([:], 1))
    private let stopped = Atomic<Bool>(false)
    private var thread: Thread?

    public init() throws {
        epfd = corsd_epoll_create()
        guard epfd >= 0 else { throw SocketError.system("epoll_create1", errno) }
        wakeFD = corsd_eventfd()
        guard wakeFD >= 0 else { throw SocketError.system("eventfd", errno) }
        _ = corsd_epoll_ctl(epfd, EPOLL_CTL_ADD, wakeFD, corsd_EPOLLIN, 0)
    }

    public func start() {
        let t = Thread { [self] in run() }
        t.name = "corsd-epoll"
        thread = t
        t.start()
    }

    /// Number of registered handlers (connections, listeners).
    public var registrationCount: Int { registrations.withLock { $0.table.count } }

    /// Registers `fd` (not yet armed). Returns the token to use with `arm`/`deregister`.
    public func register(_ fd: Int32, handler: any EventHandler) -> UInt32 {
        registrations.withLock { state in
            let generation = state.nextGeneration
            state.nextGeneration = state.nextGeneration &+ 1
            if state.nextGeneration == 0 { state.nextGeneration = 1 }
            state.table[fd] = Registration(generation: generation, handler: handler)
            _ = corsd_epoll_ctl(epfd, EPOLL_CTL_ADD, fd, corsd_EPOLLONESHOT, Self.key(fd, generation))
            return generation
        }
    }

    /// Asks for one delivery of `events` (plus hang-ups and errors, which epoll always reports).
    public func arm(_ fd: Int32, generation: UInt32, events: EventMask) {
        let mask = events.union(.readHangup).rawValue | corsd_EPOLLONESHOT
        _ = corsd_epoll_ctl(epfd, EPOLL_CTL_MOD, fd, mask, Self.key(fd, generation))
    }

    /// Removes `fd`; call before closing it, on the handler's queue.
    public func deregister(_ fd: Int32, generation: UInt32) {
        registrations.withLock { state in
            guard state.table[fd]?.generation == generation else { return }
            state.table[fd] = nil
            _ = corsd_epoll_ctl(epfd, EPOLL_CTL_DEL, fd, 0, 0)
        }
    }

    private static func key(_ fd: Int32, _ generation: UInt32) -> UInt64 {
        UInt64(generation) << 32 | UInt64(UInt32(bitPattern: fd))
    }

    private func run() {
        var masks = [UInt32](repeating: 0, count: 256)
        var datas = [UInt64](repeating: 0, count: 256)
        var lastTick = monotonicNanos()
        var tick = Self.tickMilliseconds
        while !stopped.load(ordering: .relaxed) {
            let n = corsd_epoll_wait(epfd, &masks, &datas, 256, tick)
            if n < 0 && errno != EINTR { break }
            if n > 0 {
                registrations.withLock { state in
                    for i in 0..<Int(n) {
                        let data = datas[i]
                        if data == 0 { continue }  // the wake eventfd
                        let fd = Int32(bitPattern: UInt32(truncatingIfNeeded: data))
                        let generation = UInt32(truncatingIfNeeded: data >> 32)
                        // A stale event for a closed fd whose number was reused is dropped here.
                        guard let registration = state.table[fd], registration.generation == generation else { continue }
                        let handler = registration.handler
                        let mask = EventMask(rawValue: masks[i])
                        handler.queue.async { handler.handleEvents(mask) }
                    }
                }
            }
            let now = monotonicNanos()
            if now &- lastTick >= UInt64(tick) * 1_000_000 {
                lastTick = now
                let anySet = registrations.withLock { state -> Bool in
                    var anySet = false
                    for registration in state.table.values {
                        let deadline = registration.handler.deadline
                        if deadline.takeIfExpired(now: now) {
                            let handler = registration.handler
                            handler.queue.async { handler.handleDeadline() }
                        } else if deadline.isSet {
                            anySet = true
                        }
                    }
                    return anySet
                }
                tick = anySet ? Self.tickMilliseconds : Self.idleTickMilliseconds
            }
        }
    }
}

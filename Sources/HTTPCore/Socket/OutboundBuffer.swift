#if canImport(Glibc)
import Glibc
#endif

/// Bytes queued for a non-blocking socket, written with `writev`.
struct OutboundBuffer {
    enum FlushResult {
        case flushed
        case blocked
        case failed(Int32)
    }

    private var buffers: [[UInt8]] = []
    private var firstOffset = 0
    private(set) var byteCount = 0

    var isEmpty: Bool { byteCount == 0 }

    mutating func append(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        buffers.append(bytes)
        byteCount += bytes.count
    }

    mutating func removeAll() {
        buffers.removeAll()
        firstOffset = 0
        byteCount = 0
    }

    /// Writes until done or the socket would block.
    mutating func flush(to fd: Int32) -> FlushResult {
        while byteCount > 0 {
            let n = Socket.writev(fd, buffers[...], firstOffset: firstOffset)
            if n < 0 { return .failed(Int32(-n)) }
            if n == 0 { return .blocked }
            consume(n)
        }
        buffers.removeAll(keepingCapacity: true)
        return .flushed
    }

    private mutating func consume(_ count: Int) {
        var n = count
        byteCount -= n
        var drop = 0
        while n > 0 {
            let available = buffers[drop].count - firstOffset
            if n >= available {
                n -= available
                drop += 1
                firstOffset = 0
            } else {
                firstOffset += n
                n = 0
            }
        }
        buffers.removeFirst(drop)
    }
}

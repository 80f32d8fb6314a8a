#if canImport(Glibc)
import Glibc
#endif

/// Bytes queued for a non-blocking socket, written with `writev` (or, over TLS, gathered into
/// records of up to 16 KiB).
struct OutboundBuffer {
    enum FlushResult {
        case flushed
        case blocked
        case failed(String)
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
    mutating func flush(to transport: StreamTransport) -> FlushResult {
        if let tls = transport.tls { return flush(to: tls) }
        while byteCount > 0 {
            let n = Socket.writev(transport.fd, buffers[...], firstOffset: firstOffset)
            if n < 0 { return .failed(SocketError.system("writev", Int32(-n)).description) }
            if n == 0 { return .blocked }
            consume(n)
        }
        buffers.removeAll(keepingCapacity: true)
        return .flushed
    }

    /// One record at a time: a small head and its body go out as one record, not two. A write
    /// that would block is repeated with the same length (OpenSSL's rule), and the bytes are
    /// the same because nothing is consumed until written.
    private mutating func flush(to tls: TLSStream) -> FlushResult {
        // `byteCount > 0` means a first buffer, non-empty past `firstOffset` (append keeps no
        // empty buffer; consume drops spent ones): every slice below is in bounds.
        while let head = buffers.first, byteCount > 0 {
            let length = min(tls.pendingWrite ?? TLSStream.recordSize, byteCount)
            let result: IOResult
            if head.count - firstOffset >= length {
                let start = firstOffset
                result = head.withUnsafeBytes { tls.write(UnsafeRawBufferPointer(rebasing: $0[start..<(start + length)])) }
            } else {
                result = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: length) { scratch in
                    var filled = 0
                    var offset = firstOffset
                    for buffer in buffers where filled < length {
                        let take = min(buffer.count - offset, length - filled)
                        buffer.withUnsafeBufferPointer { source in
                            _ = UnsafeMutableBufferPointer(rebasing: scratch[filled..<(filled + take)])
                                .initialize(from: source[offset..<(offset + take)])
                        }
                        filled += take
                        offset = 0
                    }
                    // filled == length (the buffers hold byteCount ≥ length bytes); only what
                    // was gathered is ever written.
                    return tls.write(UnsafeRawBufferPointer(UnsafeMutableBufferPointer(rebasing: scratch[..<filled])))
                }
            }
            switch result {
            case .bytes(let n):
                tls.pendingWrite = nil
                consume(n)
            case .wouldBlock:
                tls.pendingWrite = length
                return .blocked
            case .endOfStream:
                return .failed("connection closed")
            case .failed(let reason):
                return .failed(reason)
            }
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
